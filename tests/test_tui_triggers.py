"""A firing trigger in the war room: banner, red row, the rollback plan and its key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from textual.pilot import Pilot

from tests.conftest import WINDOW_OPENS, check_everything, read_snapshot
from tests.tui_support import SIZE, make_app, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.health import HealthCommands
from warroom.domain.health import Sample
from warroom.domain.lifecycle import DeployState
from warroom.store.engine import Store
from warroom.tui.widgets.banner import TriggerBanner
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.graph_view import GraphView

TTL = timedelta(hours=1)


def fire_error_rate(store: Store, clock: FixedClock, service: str = "api-gateway") -> None:
    """GO, deploy `service` once the window opens, and feed the poller's command
    layer 2 minutes of 5% errors."""
    check_everything(store, clock)
    Commands(store, clock, "sarah").decide("go")
    clock.set(max(clock.now(), WINDOW_OPENS))
    for _ in range(4):
        Commands(store, clock, "raj").complete_step(service)
    poller = HealthCommands(store, clock, "test-poller")
    assert poller.claim(TTL).held
    start = clock.now()
    samples = [
        Sample(
            service,
            start + timedelta(seconds=s),
            True,
            None,
            200,
            30.0,
            {"error_rate": 0.05, "p99_ms": 120},
        )
        for s in range(0, 125, 5)
    ]
    clock.set(start + timedelta(seconds=125))
    result = poller.record(samples, TTL)
    assert result.fired == ("error-rate@api-gateway",)


async def test_the_banner_offers_the_rollback_plan_and_b_starts_it(
    loaded: Store, db_url: str, clock: FixedClock
) -> None:
    fire_error_rate(loaded, clock)
    # The trigger holds everything downstream: sarah lets auth-service start
    # anyway, so a dependent is deploying when the rollback plan is made.
    Commands(loaded, clock, "sarah").release_hold("auth-service", "its own canary is clean")
    Commands(loaded, clock, "lisa").complete_step("auth-service")
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        banner = app.query_one(TriggerBanner)
        assert banner.display
        text = str(banner.render())
        assert "error-rate FIRING on api-gateway" in text
        assert "rollback plan: auth-service → api-gateway" in text
        cell = app.query_one(DeployTable).get_cell("api-gateway", "trigger")
        assert "error-rate" in str(cell)
        graph = app.query_one(GraphView)
        assert graph._snapshot is not None and graph._snapshot.firing("api-gateway")
        await pilot.press("b")  # dependents first: auth-service
        await settled(pilot)
        assert read_snapshot(loaded).states["auth-service"] is DeployState.ROLLING_BACK
        await pilot.press("b")
        await pilot.pause()
        assert any("still rolling back" in n.message for n in app._notifications)


async def test_the_right_person_acknowledges(loaded: Store, db_url: str, clock: FixedClock) -> None:
    fire_error_rate(loaded, clock)
    lisa = make_app(db_url, "lisa", clock)
    async with lisa.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("a")
        await pilot.pause()
        assert any("belongs to team infra" in n.message for n in lisa._notifications)
    raj = make_app(db_url, "raj", clock)
    async with raj.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("a")
        await settled(pilot)
        trigger = read_snapshot(loaded).trigger("error-rate@api-gateway")
        assert trigger is not None and trigger.acked_by == "raj"
        assert trigger.state == "firing"  # still holding: it resolves once it clears
        await wait_until(
            pilot, lambda: not raj.query_one(TriggerBanner).display, "the banner to go"
        )


def test_snapshot_of_a_firing_trigger(
    snap_compare: Callable[..., bool], sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    fire_error_rate(sqlite_loaded, clock)
    app = make_app(db_path, "sarah", clock)

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(pilot)
        graph = pilot.app.query_one(GraphView)
        await wait_until(pilot, lambda: graph._layout is not None, "the graph layout")
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
