"""Gates in the war room: held services on screen, `h` releasing exactly the
highlighted one while changes stream in, and `o` giving an override whose
banner every terminal shows until it ends by itself."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from tests.churn import (
    Churn,
    commands_idle,
    lines_of,
    record_toasts,
    seen_in_graph,
    seen_in_table,
    until,
)
from tests.conftest import WINDOW_OPENS, check_everything, read_snapshot
from tests.tui_support import make_app, settled
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.health import HealthCommands
from warroom.domain.health import Sample
from warroom.store.engine import Store
from warroom.tui.screens.override import OverrideScreen
from warroom.tui.screens.prompt import PromptScreen
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.graph_view import GraphView
from warroom.tui.widgets.override_banner import OverrideBanner

SIZE = (160, 48)
TTL = timedelta(seconds=30)


def api_gateway_done_and_pending(store: Store, clock: FixedClock) -> None:
    """GO, api-gateway deployed in the window, and its error rate pending:
    every other service is held."""
    check_everything(store, clock)
    Commands(store, clock, "sarah").decide("go")
    clock.set(WINDOW_OPENS)
    for _ in range(4):
        Commands(store, clock, "raj").complete_step("api-gateway")
    poller = HealthCommands(store, clock, "setup-poller")
    assert poller.claim(TTL).held
    sample = Sample("api-gateway", clock.now(), True, None, 200, 20.0, {"error_rate": 0.05})
    poller.record([sample], TTL)
    poller.release_lease()


def newest_release(store: Store) -> str | None:
    """The service of the newest hold release, from the audit chain."""
    with store.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT payload FROM audit_event WHERE action = 'hold.release' "
                "ORDER BY id DESC LIMIT 1"
            )
        ).first()
    return None if row is None else str(json.loads(row[0])["service"])


async def test_held_services_show_so_with_what_holds_them(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    for _ in range(4):
        Commands(go, clock, "raj").complete_step("api-gateway")
    Commands(go, clock, "raj").fail_deploy("api-gateway", "routing table lost")
    app = make_app(db_url, "lisa", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = app.query_one(DeployTable)
        for name in ("auth-service", "logging-service", "web-frontend"):
            assert str(table.get_cell(name, "state")) == "⊘ held"
            assert str(table.get_cell(name, "trigger")) == "⊘ api-gateway"
        assert str(table.get_cell("api-gateway", "state")) == "✗ failed"
        graph = "\n".join(lines_of(app.query_one(GraphView)))
        assert "⊘ auth-service" in graph and "⊘ web-frontend" in graph
        assert app.query_one("#pane-graph").border_subtitle == "⊘ 5 held by api-gateway (failed)"
        # The hold lifts by itself once its cause goes: here, the rollback.
        Commands(go, clock, "sarah").start_rollback("api-gateway", "routing")
        await until(
            pilot, lambda: str(table.get_cell("auth-service", "state")) == "○ waiting", "the lift"
        )
        assert app.query_one("#pane-graph").border_subtitle == ""


async def test_h_releases_exactly_the_marked_service_while_changes_stream(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    """h on a row picked at random while health, messages and steps arrive: the
    hold released (or the refusal) is the marked service's. (SQLite only: which
    row a key acts on does not depend on the backend.)"""
    api_gateway_done_and_pending(sqlite_loaded, clock)
    url = f"sqlite:///{db_path}"
    app = make_app(url, "sarah", clock)
    said = record_toasts(app)
    rng = random.Random(13)
    released: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        # api-gateway keeps its 5% errors: the trigger stays pending, then fires.
        with Churn(Store(url), clock) as churn:
            await pilot.press("2")
            for _ in range(5):
                await pilot.press(*rng.choices(["up", "down"], k=rng.randint(1, 3)))
                target = churn.count + 2
                await until(pilot, lambda t=target: churn.count >= t, "changes")  # type: ignore[misc]
                marked = seen_in_table(app)
                assert marked is not None and seen_in_graph(app) == marked
                before = len(said)
                held = marked in (read_snapshot(sqlite_loaded).holds)
                await pilot.press("h")
                if held:
                    await until(pilot, lambda: isinstance(app.screen, PromptScreen), "the question")
                    question = str(app.screen.query_one("#prompt-question").render())
                    assert marked in question
                    await pilot.press(*"clean", "enter")  # short: each key waits on a busy app
                await until(
                    pilot,
                    lambda before=before: len(said) > before and commands_idle(app),  # type: ignore[misc]
                    "the answer to h",
                )
                assert marked in said[-1], f"h on {marked}: {said[-1]}"
                if held:
                    assert newest_release(sqlite_loaded) == marked
                    released.append(marked)
                else:
                    assert said[-1] == f"{marked} is not held."
            assert app.is_running and app._exception is None
    assert released, "no held row was picked: choose another seed"
    assert not set(released) & set(read_snapshot(sqlite_loaded).holds)


async def test_o_gives_an_override_every_terminal_shows_until_it_ends(
    loaded: Store, db_url: str, clock: FixedClock
) -> None:
    check_everything(loaded, clock)
    clock.set(datetime(2024, 3, 20, 13, 31, tzinfo=UTC))
    Commands(loaded, clock, "sarah").decide("go")
    sarah, lisa = make_app(db_url, "sarah", clock), make_app(db_url, "lisa", clock)
    said = record_toasts(sarah)
    async with sarah.run_test(size=SIZE) as pilot, lisa.run_test(size=SIZE) as other:
        await settled(pilot)
        await settled(other)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(sarah.screen, OverrideScreen), "the dialog")
        dialog = sarah.screen
        assert isinstance(dialog, OverrideScreen)
        assert dialog.target == "window"  # what keeps deploys out now comes first
        await pilot.press("enter")  # the window: on to the reason
        await pilot.press("enter")  # no reason yet: the dialog says so and stays
        assert "Say why" in str(dialog.query_one("#override-check").render())
        await pilot.press(*"infra is ready early", "enter", *"10m", "enter")
        await until(pilot, lambda: bool(said) and commands_idle(sarah), "the override")
        assert said[-1] == "the deploy window is overridden until 13:41:00 UTC"
        # Every terminal shows it: sarah's, and lisa's, through the snapshot.
        for app, driver in ((sarah, pilot), (lisa, other)):
            banner = app.query_one(OverrideBanner)
            await until(driver, lambda b=banner: b.display, "the banner")  # type: ignore[misc]
            words = str(banner.render())
            assert "the deploy window lifted by sarah until 13:41 UTC (10m left)" in words
            assert "infra is ready early" in words
        # It ends by itself: nobody acts, the clock moves on.
        clock.set(datetime(2024, 3, 20, 13, 41, tzinfo=UTC))
        for app, driver in ((sarah, pilot), (lisa, other)):
            banner = app.query_one(OverrideBanner)
            await until(driver, lambda b=banner: not b.display, "the banner to go")  # type: ignore[misc]
