"""Rules in the war room: an inconclusive rule asks, a dry run never alarms, and
the service screen charts each rule while samples stream in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, RadioButton

from tests.churn import Churn, commands_idle, lines_of, record_toasts, until
from tests.conftest import read_snapshot
from tests.rules_day import SERVICE, Feed, deployed, metrics
from tests.tui_support import OpenRoom, make_app, select_service, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.store.engine import Store
from warroom.tui.screens.answer import AnswerScreen
from warroom.tui.screens.dashboard import DashboardScreen
from warroom.tui.screens.service import ServiceScreen
from warroom.tui.widgets.banner import TriggerBanner
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.rule_chart import RuleChart

WIDE = (160, 48)  # wide enough for the deploy table's trigger column


@pytest.fixture
def day(store: Store, clock: FixedClock) -> Store:
    return deployed(store, clock)


def banner_text(pilot: Pilot[None]) -> str:
    return str(pilot.app.query_one(TriggerBanner).render())


async def open_service(pilot: Pilot[None], name: str) -> ServiceScreen:
    await select_service(pilot, name)
    await pilot.press("enter")
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, ServiceScreen), "the service screen")
    screen = app.screen
    assert isinstance(screen, ServiceScreen)
    return screen


def charts(screen: ServiceScreen) -> dict[str, RuleChart]:
    return {c.trigger_id: c for c in screen.query(RuleChart)}


def chart_text(chart: RuleChart) -> str:
    return "\n".join(line for child in chart.children for line in lines_of(child))


async def test_an_inconclusive_rule_asks_in_the_banner_and_i_answers_it(
    day: Store, clock: FixedClock, open_room: OpenRoom
) -> None:
    Feed(day, clock)(*[metrics(p99_ms=100)] * 3)
    async with open_room("lisa") as (app, pilot):
        banner = app.query_one(TriggerBanner)
        assert banner.display and banner.has_class("-asking")
        assert f"? blind INCONCLUSIVE on {SERVICE} since 14:00:15 UTC" in banner_text(pilot)
        assert "i decide: roll back or carry on" in banner_text(pilot)
        said = record_toasts(app)
        await pilot.press("i")  # lisa is on-call: not hers to decide
        await until(pilot, lambda: bool(said), "the refusal")
        assert "may not decide on blind@api-gateway: only the release manager can" in said[-1]
        assert not isinstance(app.screen, AnswerScreen)
    async with open_room("sarah") as (app, pilot):
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, AnswerScreen), "the answer dialog")
        dialog = app.screen
        assert isinstance(dialog, AnswerScreen)
        assert dialog.question.startswith("blind@api-gateway: The rule cannot tell.")
        reason = dialog.query_one("#answer-reason", Input)
        reason.value = "exporter restarting"
        await pilot.press("tab", "enter")  # nothing picked yet: it says so, and stays
        assert isinstance(app.screen, AnswerScreen)
        dialog.query_one("#answer-carry-on", RadioButton).value = True
        reason.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        await settled(pilot)
        blind = read_snapshot(day).trigger(f"blind@{SERVICE}")
        assert blind is not None and blind.state == "inactive"
        assert blind.detail == "sarah decided to carry on: exporter restarting"
        await wait_until(
            pilot, lambda: not app.query_one(TriggerBanner).display, "the banner to go"
        )


async def test_a_dry_run_rule_never_raises_the_banner_but_shows_its_state(
    day: Store, clock: FixedClock, db_url: str
) -> None:
    Feed(day, clock)(*[metrics(error_rate=0.008)] * 7)  # the trial fires
    trial = read_snapshot(day).trigger(f"trial@{SERVICE}")
    assert trial is not None and trial.state == "firing"
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=WIDE) as pilot:
        await settled(pilot)
        assert not app.query_one(TriggerBanner).display
        table = app.query_one(DeployTable)
        assert "trial" not in str(table.get_cell(SERVICE, "trigger"))
        assert "⚠" not in str(table.get_cell(SERVICE, "service"))
        screen = await open_service(pilot, SERVICE)
        await until(pilot, lambda: f"trial@{SERVICE}" in charts(screen), "the trial's chart")
        shown = charts(screen)[f"trial@{SERVICE}"]
        assert shown.has_class("-dry-run")
        await until(pilot, lambda: "[dry run]  FIRING" in chart_text(shown), "its state")
        assert "firing: error_rate 0.80%" in chart_text(shown)


async def test_the_service_screen_follows_the_samples_and_its_keys_still_act(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    app = make_app(db_url, "sarah", clock)
    said = record_toasts(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        Commands(go, clock, "raj").complete_step(SERVICE)  # deploying: its rules watch it
        with Churn(Store(db_url), clock, steps=False) as churn:
            screen = await open_service(pilot, SERVICE)
            key = f"error-rate@{SERVICE}"
            await until(pilot, lambda: key in charts(screen), "the error-rate chart")
            chart = charts(screen)[key]

            def drawn() -> int:
                return chart.chart.samples if chart.chart is not None else 0

            await until(pilot, lambda: drawn() >= 3, "samples on the chart")
            first = chart.chart
            assert first is not None
            target = churn.count + 12
            await until(pilot, lambda: churn.count >= target, "more samples")
            # Drawn again, in place, with the newer samples: the same widget.
            await until(pilot, lambda: drawn() > first.samples, "the chart to follow")
            assert charts(screen)[key] is chart
            latest = chart.chart
            assert latest is not None and latest.end > first.end
            await until(pilot, lambda: "now 5.00%" in chart_text(chart), "the newest value")
            assert app.screen is screen and app._exception is None
            # Escape, then a key: it acts on the service that was open.
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
            dashboard = app.screen
            assert isinstance(dashboard, DashboardScreen) and dashboard.selected == SERVICE
            before = len(said)
            await pilot.press("n")
            await until(
                pilot, lambda: len(said) > before and commands_idle(app), "the step's answer"
            )
            assert said[-1] == f"{SERVICE}: Run smoke tests done (2/4)"


def test_snapshot_of_a_service_with_its_rules(
    snap_compare: Callable[..., bool], sqlite_store: Store, db_path: Path, clock: FixedClock
) -> None:
    deployed(sqlite_store, clock)
    feed = Feed(sqlite_store, clock)
    feed(*[metrics(error_rate=0.002, p99_ms=90)] * 30)  # 2.5 minutes quiet
    feed(*[metrics(error_rate=0.008, p99_ms=95)] * 6)  # the trial goes pending, fires
    feed(*[metrics(error_rate=0.04, p99_ms=120)] * 14)  # error-rate pending for 65 s
    app = make_app(db_path, "sarah", clock)

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(pilot)
        screen = await open_service(pilot, SERVICE)
        await until(pilot, lambda: len(charts(screen)) == 7, "every rule's chart")
        await until(
            pilot,
            lambda: all(
                c.chart is not None and c.chart.samples == 50 for c in charts(screen).values()
            ),
            "every sample charted",
        )
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 80), run_before=run_before)


async def test_the_runbook_scrolls_by_keyboard_to_the_last_rule(
    day: Store, clock: FixedClock, db_url: str
) -> None:
    """Four rules' charts are taller than the screen: the keys reach the last one."""
    Feed(day, clock)(*[metrics(error_rate=0.008)] * 3)
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=WIDE) as pilot:
        await settled(pilot)
        screen = await open_service(pilot, SERVICE)
        await until(pilot, lambda: len(charts(screen)) >= 3, "the charts")
        box = screen.query_one("#service-box")
        await until(pilot, lambda: box.max_scroll_y > 0, "the runbook to overflow")
        assert screen.focused is box
        last = list(charts(screen).values())[-1]
        assert not box.region.contains_region(last.region)
        await pilot.press("end")
        await until(pilot, lambda: box.scroll_y == box.max_scroll_y, "the end")
        assert box.region.contains_region(last.region)
        await pilot.press("home")
        await until(pilot, lambda: box.scroll_y == 0, "the top")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
