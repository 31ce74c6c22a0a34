"""What the war room looks like, screen by screen (pytest-textual-snapshot).

Each scenario builds its own database with the command layer and a fixed
clock, so the pictures never change with the date, the machine or the order
tests run in. Update after an intended change with `pytest --snapshot-update`
and look at the SVGs in the snapshot report before committing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.conftest import SAMPLE, check_everything, read_snapshot
from tests.tui_support import LAYOUT_SIZES, SIZE, make_app, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.health import HealthCommands
from warroom.commands.load import load_plan
from warroom.domain.health import Sample
from warroom.domain.plan import parse_plan_text
from warroom.store.engine import Store
from warroom.testing.release_day import rehearse
from warroom.tui.screens.replay import ReplayScreen
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.graph_view import GraphView

SnapCompare = Callable[..., bool]
OWNERS = {"infra": "raj", "backend": "lisa", "mobile": "omar", "frontend": "kim"}


def at(hour: int, minute: int) -> datetime:
    return datetime(2024, 3, 20, hour, minute, tzinfo=UTC)


def steps(store: Store, clock: FixedClock, service: str, count: int | None = None) -> None:
    view = read_snapshot(store).service(service)
    assert view is not None
    remaining = len(view.steps) - view.steps_done
    for _ in range(remaining if count is None else count):
        clock.advance(timedelta(minutes=2))
        Commands(store, clock, OWNERS[view.team]).complete_step(service)


def before_go_no_go(store: Store, clock: FixedClock) -> None:
    sarah, mike = Commands(store, clock, "sarah"), Commands(store, clock, "mike")
    sarah.post_message("Go/no-go at 13:30 in the war room; leads please finish readiness")
    clock.advance(timedelta(minutes=2))
    mike.set_items(["backend-1", "backend-2", "backend-3"], True)
    sarah.set_items(["gng-1", "gng-2"], True)
    mike.post_message("Backend: staging verification still running, ETA 10 min")
    clock.set(at(13, 24))


def go(store: Store, clock: FixedClock) -> None:
    check_everything(store, clock)
    clock.set(at(13, 31))
    Commands(store, clock, "sarah").decide("go", rationale="all teams ready, monitoring open")
    clock.set(at(14, 0))


def mid_deploy_with_a_failure(store: Store, clock: FixedClock) -> None:
    go(store, clock)
    steps(store, clock, "api-gateway")
    steps(store, clock, "logging-service", 1)
    steps(store, clock, "auth-service", 2)
    clock.advance(timedelta(minutes=3))
    Commands(store, clock, "lisa").fail_deploy("auth-service", "5xx rate 4% after deploy")
    Commands(store, clock, "mike").post_message("Looking at auth logs, holding user-service")
    clock.set(at(14, 27))


def during_rollback(store: Store, clock: FixedClock) -> None:
    mid_deploy_with_a_failure(store, clock)
    Commands(store, clock, "mike").raise_trigger(
        "auth-service", "token refresh failing for mobile clients"
    )
    clock.advance(timedelta(minutes=1))
    Commands(store, clock, "sarah").start_rollback("auth-service", "error rate over 1%")
    clock.set(at(14, 31))


def complete(store: Store, clock: FixedClock) -> None:
    go(store, clock)
    for name in read_snapshot(store).deploy_order:
        steps(store, clock, name)
    Commands(store, clock, "sarah").post_message("v2.5.0 is out. Thanks all.")
    clock.set(at(15, 5))


def held_downstream(store: Store, clock: FixedClock) -> None:
    """api-gateway and auth-service done; auth-service's error rate goes pending:
    everything downstream of it is held."""
    go(store, clock)
    steps(store, clock, "api-gateway")
    steps(store, clock, "auth-service")
    clock.advance(timedelta(minutes=1))
    poller = HealthCommands(store, clock, "poller-1")
    assert poller.claim(timedelta(minutes=5)).held
    sample = Sample("auth-service", clock.now(), True, None, 200, 21.0, {"error_rate": 0.05})
    poller.record([sample], timedelta(minutes=5))
    clock.advance(timedelta(seconds=2))


# The sample with a nightly freeze that falls in the rollback window.
NIGHTLY = """
freezes:
  - {name: Nightly batch, rrule: "FREQ=DAILY;BYHOUR=17", duration: 2h, reason: billing run}
"""


def overridden_early(store: Store, clock: FixedClock) -> None:
    """The sample with a nightly freeze; GO at 13:31 and the window overridden for 15m."""
    text = SAMPLE.read_text(encoding="utf-8").partition("\nfreezes:")[0] + NIGHTLY
    load_plan(store, parse_plan_text(text), text, loaded_by="sarah", clock=clock)
    check_everything(store, clock)
    clock.set(at(13, 31))
    sarah = Commands(store, clock, "sarah")
    sarah.decide("go", rationale="all teams ready")
    sarah.override("window", "15m", "infra is ready early")
    clock.set(at(13, 33))
    Commands(store, clock, "raj").complete_step("api-gateway")
    clock.set(at(13, 35))


async def _ready(pilot: Pilot[None]) -> None:
    """Wait for everything that settles asynchronously: data, layout, scrolling
    (on the screen shown: the app's own queries go to its default screen)."""
    await settled(pilot)
    screen = pilot.app.screen
    graph = screen.query_one(GraphView)
    await wait_until(pilot, lambda: graph._layout is not None, "the graph layout")

    def selection_in_view() -> bool:
        layout, name = graph.graph_layout, graph.selected
        if layout is None or name is None:
            return True
        box, left = layout.nodes[name], graph.scroll_offset.x
        return left <= box.x and box.x + box.width <= left + graph.size.width

    await wait_until(
        pilot,
        selection_in_view,
        f"the graph to show its selected node ({graph.selected}, {graph.scroll_offset}, {graph.size})",
    )
    log = screen.query_one(CommsLog).lines
    await wait_until(
        pilot,
        lambda: log.size.height > 0 and log.scroll_y == log.max_scroll_y,
        "the log to follow its newest line",
    )
    pilot.app.clear_notifications()
    await pilot.pause()


def _snap(
    snap_compare: SnapCompare,
    db_path: Path,
    clock: FixedClock,
    *,
    who: str = "sarah",
    press: Iterable[str] = (),
    size: tuple[int, int] = SIZE,
) -> bool:
    app = make_app(db_path, who, clock)

    async def run_before(pilot: Pilot[None]) -> None:
        await _ready(pilot)
        for key in press:
            await pilot.press(key)
        await pilot.pause()

    return snap_compare(app, terminal_size=size, run_before=run_before)


def test_before_go_no_go(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    before_go_no_go(sqlite_loaded, clock)
    assert _snap(snap_compare, db_path, clock)


def test_mid_deploy_with_one_failed_service(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    mid_deploy_with_a_failure(sqlite_loaded, clock)
    assert _snap(snap_compare, db_path, clock, who="lisa")


def test_during_a_rollback(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    during_rollback(sqlite_loaded, clock)
    assert _snap(snap_compare, db_path, clock)


def test_after_completion(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    complete(sqlite_loaded, clock)
    assert _snap(snap_compare, db_path, clock)


@pytest.mark.parametrize("size", LAYOUT_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_mid_deploy_at_each_terminal_size(
    snap_compare: SnapCompare,
    sqlite_loaded: Store,
    db_path: Path,
    clock: FixedClock,
    size: tuple[int, int],
) -> None:
    mid_deploy_with_a_failure(sqlite_loaded, clock)
    assert _snap(snap_compare, db_path, clock, size=size)


@pytest.mark.parametrize("pane", ["1", "2", "3", "4", "5"])
def test_each_pane_zoomed(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock, pane: str
) -> None:
    mid_deploy_with_a_failure(sqlite_loaded, clock)
    keys = [pane, "z"]
    assert _snap(snap_compare, db_path, clock, press=keys)


def test_decision_dialog(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    check_everything(sqlite_loaded, clock)
    clock.set(at(13, 31))
    assert _snap(snap_compare, db_path, clock, press=["g"])


def test_services_held_by_a_pending_trigger_upstream(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    held_downstream(sqlite_loaded, clock)
    keys = ["2", "down", "down", "down"]  # user-service: held
    assert _snap(snap_compare, db_path, clock, who="lisa", press=keys, size=(160, 48))


def test_an_override_banner_and_a_freeze_on_the_countdown(
    snap_compare: SnapCompare, sqlite_store: Store, db_path: Path, clock: FixedClock
) -> None:
    overridden_early(sqlite_store, clock)
    assert _snap(snap_compare, db_path, clock, size=(160, 48))


def test_override_dialog(
    snap_compare: SnapCompare, sqlite_store: Store, db_path: Path, clock: FixedClock
) -> None:
    overridden_early(sqlite_store, clock)
    assert _snap(snap_compare, db_path, clock, press=["o"])


def test_help_screen(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    assert _snap(snap_compare, db_path, clock, press=["question_mark"])


def test_runbook_of_one_service(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    mid_deploy_with_a_failure(sqlite_loaded, clock)
    assert _snap(snap_compare, db_path, clock, press=["2", "down", "down", "enter"])


def test_no_release_loaded(snap_compare: SnapCompare, db_path: Path, clock: FixedClock) -> None:
    app = make_app(db_path, "sarah", clock)

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_replay_mid_rollback(
    snap_compare: SnapCompare, sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    """`warroom replay --at 14:37:30` on the scripted day: user-service rolling
    back, its trigger resolved, auth-service's lead's call still to come."""
    rehearse(sqlite_loaded, clock)
    app = make_app(
        db_path, "sarah", clock, replay=True, replay_at=at(14, 37) + timedelta(seconds=30)
    )

    async def run_before(pilot: Pilot[None]) -> None:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReplayScreen), "the replay")
        await _ready(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
