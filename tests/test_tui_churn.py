"""The room while it changes: every screen and key, with changes streaming in from elsewhere.

Each test runs the app against a real database (SQLite file and PostgreSQL)
while `Churn` commits health samples, messages, other people's steps and a
trigger going pending and firing. After each key it checks that nothing
raised, that the key acted on exactly what was highlighted on screen, and
that the log still shows its newest line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.command import CommandPalette
from textual.pilot import Pilot

from tests.churn import (
    FLOOD,
    Churn,
    commands_idle,
    lines_of,
    log_shows_newest,
    record_toasts,
    seen_in_graph,
    seen_in_table,
    until,
)
from tests.conftest import SAMPLE, T0, check_everything, read_snapshot
from tests.tui_support import make_app, settled
from warroom.clock import FixedClock
from warroom.commands import CommandError, Commands
from warroom.commands.health import HealthCommands
from warroom.commands.load import load_plan
from warroom.domain.plan import parse_plan_text
from warroom.store.engine import Store
from warroom.tui.app import WarroomApp
from warroom.tui.screens.dashboard import DashboardScreen
from warroom.tui.screens.decision import DecisionScreen
from warroom.tui.screens.fault import FaultScreen
from warroom.tui.screens.help import HelpScreen
from warroom.tui.screens.prompt import PromptScreen
from warroom.tui.screens.service import ServiceScreen
from warroom.tui.widgets.banner import TriggerBanner
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.graph_view import GraphView

SIZE = (160, 48)


def dashboard(app: WarroomApp) -> DashboardScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, DashboardScreen)
    return screen


def alive(app: WarroomApp) -> None:
    assert app.is_running, "the app stopped"
    assert app._exception is None, f"the app raised: {app._exception!r}"


async def changes_arrive(pilot: Pilot[None], churn: Churn, count: int) -> None:
    """Let `count` more changes commit and the app read them."""
    target = churn.count + count
    await until(pilot, lambda: churn.count >= target, f"{count} more changes")
    await pilot.pause()


def newest_step_by(store: Store, actor: str) -> str | None:
    """The service of the newest runbook step `actor` completed, from the audit chain."""
    import json

    from sqlalchemy import text

    with store.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT payload FROM audit_event WHERE actor = :a AND action = 'step.done' "
                "ORDER BY id DESC LIMIT 1"
            ),
            {"a": actor},
        ).first()
    return None if row is None else str(json.loads(row[0])["service"])


def steps_by(store: Store, actor: str) -> int:
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM audit_event WHERE actor = :a AND action = 'step.done'"),
                {"a": actor},
            ).scalar_one()
        )


async def press_and_check_target(
    pilot: Pilot[None], app: WarroomApp, store: Store, said: list[str], key: str = "n"
) -> str:
    """Press a step key; the step it completed, or the refusal it got, is the marked service's."""
    marked = seen_in_table(app) if app.focused is app.query_one(DeployTable) else seen_in_graph(app)
    assert marked is not None, "nothing is marked as selected"
    before_steps, before_toasts = steps_by(store, "sarah"), len(said)
    await pilot.press(key)
    await until(
        pilot, lambda: len(said) > before_toasts and commands_idle(app), f"the answer to {key}"
    )
    alive(app)
    if steps_by(store, "sarah") > before_steps:
        assert newest_step_by(store, "sarah") == marked, f"{key} acted off the marked {marked}"
    else:
        answer = said[-1]
        assert marked in answer, f"{key} on {marked} was answered about something else: {answer}"
    return marked


# ---------------------------------------------------------------- the deploy table and the graph


async def test_arrows_then_n_act_on_the_marked_service_while_changes_stream(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    app = make_app(db_url, "sarah", clock)
    said = record_toasts(app)
    rng = random.Random(9)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        with Churn(Store(db_url), clock) as churn:
            await pilot.press("2")
            order = read_snapshot(go).deploy_order
            for _ in range(6):
                for key in rng.choices(["up", "down"], k=rng.randint(1, 4)):
                    before = seen_in_table(app)
                    assert before is not None
                    await pilot.press(key)
                    await changes_arrive(pilot, churn, 1)
                    after = seen_in_table(app)
                    # One arrow moves one row, never back, whatever arrived meanwhile.
                    step = 1 if key == "down" else -1
                    expected = order[min(max(order.index(before) + step, 0), len(order) - 1)]
                    assert after == expected, f"{key} from {before} shows {after}"
                    assert seen_in_graph(app) == after  # both panes show the same selection
                await press_and_check_target(pilot, app, go, said)
                assert log_shows_newest(app)
            alive(app)


async def test_arrows_at_a_persons_pace_with_nobody_else_acting(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    """Up to the top, then Down one at a time and Enter: the runbook of that row opens."""
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        order = read_snapshot(go).deploy_order
        await pilot.press("2", *["up"] * len(order))
        for index, name in enumerate(order):
            if index:
                await pilot.press("down")
            assert seen_in_table(app) == name
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ServiceScreen), "the runbook")
            opened = app.screen
            assert isinstance(opened, ServiceScreen) and opened.service == name
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")


async def test_the_graphs_arrows_then_n_act_on_the_marked_node(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    app = make_app(db_url, "sarah", clock)
    said = record_toasts(app)
    rng = random.Random(4)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        with Churn(Store(db_url), clock) as churn:
            await pilot.press("1")
            for _ in range(5):
                for key in rng.choices(["up", "down", "left", "right"], k=rng.randint(1, 3)):
                    await pilot.press(key)
                    await changes_arrive(pilot, churn, 1)
                    assert seen_in_table(app) == seen_in_graph(app)
                await press_and_check_target(pilot, app, go, said)
            alive(app)


# ---------------------------------------------------------------- every screen


async def test_a_runbook_stays_open_through_any_number_of_changes(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        # The churn's own steps could finish api-gateway before raj's step
        # below (refused: its runbook closed); health and messages still stream.
        with Churn(Store(db_url), clock, steps=False, interval=FLOOD) as churn:
            await pilot.press("2", "enter")  # api-gateway: the one that can start now
            await until(pilot, lambda: isinstance(app.screen, ServiceScreen), "the runbook")
            opened = app.screen
            assert isinstance(opened, ServiceScreen)
            assert opened.service == "api-gateway"
            await changes_arrive(pilot, churn, 10)
            # Someone completes a step on it meanwhile: the open runbook shows who.
            Commands(go, clock, "raj").complete_step("api-gateway")
            await changes_arrive(pilot, churn, 15)
            alive(app)
            assert app.screen is opened

            def body() -> str:
                return "\n".join(lines_of(opened.query_one("#service-body")))

            await until(pilot, lambda: "raj at" in body(), "raj's step in the open runbook")
            assert app.screen is opened
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")


# The dialogs that follow the room as it changes (the others only sit over it).
READS_THE_ROOM = (ServiceScreen, DecisionScreen)


@pytest.mark.parametrize(
    ("key", "screen"),
    [
        ("question_mark", HelpScreen),
        ("g", DecisionScreen),
        ("x", PromptScreen),
        ("W", PromptScreen),  # where to write the report
        ("F", FaultScreen),
        ("enter", ServiceScreen),
        ("ctrl+p", CommandPalette),
    ],
)
async def test_every_dialog_lives_through_changes_and_closes(
    loaded: Store, db_url: str, clock: FixedClock, key: str, screen: type
) -> None:
    if db_url.startswith("postgresql") and screen not in READS_THE_ROOM:
        pytest.skip("this dialog reads nothing from the database: SQLite's run says it all")
    check_everything(loaded, clock)  # readiness moves under the decision dialog too
    app = make_app(db_url, "sarah", clock)
    app.config.simulator_url = "http://127.0.0.1:9"  # F opens its dialog; nothing is sent
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        with Churn(Store(db_url), clock, steps=False) as churn:
            await pilot.press("2")
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, screen), f"{screen.__name__}")
            opened = app.screen
            await changes_arrive(pilot, churn, 6)
            await pilot.resize_terminal(120, 40)
            await changes_arrive(pilot, churn, 3)
            await pilot.resize_terminal(*SIZE)
            alive(app)
            assert app.screen is opened
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
            await changes_arrive(pilot, churn, 5)
            alive(app)


async def test_the_decision_dialog_follows_readiness_while_open(
    loaded: Store, db_url: str, clock: FixedClock
) -> None:
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, DecisionScreen), "the dialog")
        summary = app.screen.query_one("#decision-readiness")
        assert "BLOCKED" in str(summary.render())
        check_everything(loaded, clock)  # the team leads check their lists meanwhile
        await until(pilot, lambda: "BLOCKED" not in str(summary.render()), "readiness to follow")


# ---------------------------------------------------------------- the log and the banner


async def test_the_log_keeps_following_when_the_banner_appears(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        banner = app.query_one(TriggerBanner)
        for _ in range(4):
            Commands(go, clock, "raj").complete_step("api-gateway")
        # No one else's steps: one more on api-gateway would finish it before
        # its error rate fires the trigger (health and messages still stream).
        with Churn(Store(db_url), clock, steps=False) as churn:
            await until(pilot, lambda: banner.display, "the trigger to fire", tries=1500)
            await changes_arrive(pilot, churn, 12)
            assert log_shows_newest(app), "new lines went below the visible area"
        Commands(go, clock, "sarah").post_message("rollback ordered: everyone hold")
        await until(
            pilot,
            lambda: any(
                "everyone hold" in line.text for line in app.query_one(CommsLog).lines.lines[-3:]
            ),
            "the message in the log",
        )
        assert log_shows_newest(app)
        # Scrolled up, the reader stays where they are.
        app.query_one(CommsLog).lines.scroll_home(animate=False, immediate=True)
        Commands(go, clock, "pat").post_message("one more line")
        await until(
            pilot,
            lambda: any(
                "one more line" in line.text for line in app.query_one(CommsLog).lines.lines
            ),
            "the new line",
        )
        assert app.query_one(CommsLog).lines.scroll_y == 0


async def test_after_sending_a_message_the_keys_move_between_panes_again(
    loaded: Store, db_url: str, clock: FixedClock
) -> None:
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("2", "m", *"all good", "enter")
        await until(pilot, lambda: app.focused is app.query_one(DeployTable), "focus back")
        await pilot.press("4")
        assert app.focused is not None and app.focused.id == "checklist"
        box = app.query_one("#log-input")
        assert getattr(box, "value", None) == ""  # the 4 moved, it was not typed


# ---------------------------------------------------------------- triggers


async def test_a_acknowledges_the_first_trigger_whatever_service_is_selected(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    from tests.test_tui_triggers import fire_error_rate

    fire_error_rate(go, clock)
    app = make_app(db_url, "raj", clock)  # infra on-call: api-gateway's trigger is theirs
    said = record_toasts(app)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("2", *["down"] * 6)  # web-frontend: no trigger of its own
        assert seen_in_table(app) == "web-frontend"
        await pilot.press("a")
        await until(pilot, lambda: commands_idle(app) and bool(said), "the answer")
        await settled(pilot)
        snapshot = read_snapshot(go)
        trigger = next(t for t in snapshot.triggers if t.service == "api-gateway")
        assert trigger.acked_by == "raj", said
        assert seen_in_table(app) == "api-gateway"  # the selection follows to what was acked


async def test_after_b_the_selection_follows_and_R_on_another_says_which_is_rolling_back(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    from tests.test_tui_triggers import fire_error_rate

    fire_error_rate(go, clock)
    app = make_app(db_url, "sarah", clock)
    said = record_toasts(app)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("2", "b")
        await until(pilot, lambda: commands_idle(app) and bool(said), "the rollback")
        await settled(pilot)
        assert seen_in_table(app) == "api-gateway"
        await pilot.press("down", "R")
        await until(pilot, lambda: len(said) >= 2 and commands_idle(app), "the refusal")
        assert "api-gateway is rolling back" in said[-1], said


# ---------------------------------------------------------------- random walks

KEYS = ["up", "down", "left", "right", "1", "2", "4", "5", "tab", "n", "enter", "escape"]
KEYS += ["z", "g", "question_mark", "space", "a", "x", "m"]
CHANGES = ["message", "health", "step", "resize"]
WALK = st.lists(
    st.one_of(
        st.sampled_from(KEYS).map(lambda k: ("key", k)),
        st.sampled_from(CHANGES).map(lambda c: ("change", c)),
    ),
    min_size=4,
    max_size=30,
)


def no_raw_controls(app: WarroomApp) -> None:
    """Nothing drawn carries a control character (hostile messages included)."""
    for widget in app.screen.query("*"):
        if widget.display and widget.size.area and hasattr(widget, "render_line"):
            for line in lines_of(widget):
                assert not any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in line), line


async def walk(url: str, clock: FixedClock, steps: list[tuple[str, str]]) -> None:
    churn_store = Store(url)
    churn = Churn(churn_store, clock)
    changes = {"message": churn._message, "health": churn._health, "step": churn._step}
    churn._poller = churn_poller(churn_store, clock)
    app = make_app(url, "sarah", clock)
    said = record_toasts(app)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        for number, (kind, what) in enumerate(steps):
            if kind == "change":
                if what == "resize":
                    await pilot.resize_terminal(*((120, 40) if number % 2 else SIZE))
                else:
                    with contextlib.suppress(CommandError):
                        changes[what](number)
                await pilot.pause()
            elif (
                what == "n"
                and isinstance(app.screen, DashboardScreen)
                and isinstance(app.focused, DeployTable | GraphView)
                and dashboard(app).maximized is None
            ):
                await press_and_check_target(pilot, app, Store(url), said)
            else:
                await pilot.press(what)
                await pilot.pause()
            alive(app)
            if isinstance(app.screen, DashboardScreen) and dashboard(app).maximized is None:
                assert seen_in_table(app) == seen_in_graph(app)
            if (
                isinstance(app.screen, DashboardScreen)
                and app.focused is not app.query_one(CommsLog).lines
            ):
                assert log_shows_newest(app)
            no_raw_controls(app)
    churn_store.dispose()


def churn_poller(store: Store, clock: FixedClock) -> HealthCommands:
    poller = HealthCommands(store, clock, "walk-poller")
    assert poller.claim(timedelta(seconds=30)).held
    return poller


@settings(
    max_examples=int(os.environ.get("WARROOM_FUZZ_EXAMPLES", "5")),
    deadline=None,
    derandomize=os.environ.get("WARROOM_FUZZ_EXAMPLES") is None,  # CI: the same walks each run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=WALK)
def test_random_keys_interleaved_with_random_changes(
    _migrated_template: Path, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, str]]
) -> None:
    path = tmp_path_factory.mktemp("walk") / "warroom.db"
    shutil.copyfile(_migrated_template, path)
    url = f"sqlite:///{path}"
    clock = FixedClock(T0)
    store = Store(url)
    text = SAMPLE.read_text(encoding="utf-8")
    load_plan(
        store, parse_plan_text(text, source=str(SAMPLE)), text, loaded_by="sarah", clock=clock
    )
    check_everything(store, clock)
    Commands(store, clock, "sarah").decide("go")
    store.dispose()
    asyncio.run(walk(url, clock, steps))


async def test_presence_and_connection_news_while_the_screen_is_torn_down(
    loaded: Store, db_url: str, clock: FixedClock
) -> None:
    """A heartbeat or an outage reported while the dashboard has no header yet (or
    any more) — as when the app starts or quits — changes nothing and raises nothing."""
    from warroom.tui.widgets.header import WarroomHeader

    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await app.query_one(WarroomHeader).remove()
        app.post_message(WarroomApp.PresenceUpdated([]))
        app.post_message(WarroomApp.StoreFailed("the database is unreachable"))
        await pilot.pause()
        await until(pilot, lambda: not app.connected, "the outage to be taken in")
        alive(app)


@pytest.mark.parametrize("key", ["u", "s", "D", "R", "x", "r", "exclamation_mark"])
async def test_every_service_key_acts_on_the_marked_service_while_changes_stream(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock, key: str
) -> None:
    """Each service key, pressed on a row picked at random while changes arrive:
    its answer (done or refused) is about the service marked on screen. (SQLite
    only: which row a key acts on does not depend on the backend, and the
    tests above run both.)"""
    check_everything(sqlite_loaded, clock)
    Commands(sqlite_loaded, clock, "sarah").decide("go")
    url = f"sqlite:///{db_path}"
    asks_why = key in {"x", "r", "exclamation_mark"}
    app = make_app(url, "sarah", clock)
    said = record_toasts(app)
    rng = random.Random(key)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        with Churn(Store(url), clock) as churn:
            await pilot.press("2")
            for _ in range(2):
                await pilot.press(*rng.choices(["up", "down"], k=rng.randint(1, 4)))
                await changes_arrive(pilot, churn, 2)
                marked = seen_in_table(app)
                assert marked is not None
                before = len(said)
                await pilot.press(key)
                if asks_why:
                    await until(pilot, lambda: isinstance(app.screen, PromptScreen), "the question")
                    assert marked in str(app.screen.query_one("#prompt-question").render())
                    await changes_arrive(pilot, churn, 2)  # the answer takes a while to type
                    await pilot.press("o", "k", "enter")
                await until(
                    pilot,
                    lambda before=before: len(said) > before and commands_idle(app),  # type: ignore[misc]
                    f"the answer to {key}",
                )
                alive(app)
                assert marked in said[-1], f"{key} on {marked}: {said[-1]}"


async def test_a_read_arriving_before_a_screen_is_built_or_after_it_is_gone_is_harmless(
    loaded: Store, db_url: str, clock: FixedClock
) -> None:
    """Under load a fresh read reached a dialog whose widgets were not there yet
    (NoMatches: '#decision-readiness'); every live screen now shows it once built."""
    snapshot = read_snapshot(loaded)
    app = make_app(db_url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        screens = [DecisionScreen(snapshot), ServiceScreen("api-gateway"), DashboardScreen()]
        for screen in screens:
            screen.show_snapshot(snapshot, None)  # not composed yet: nothing to show it in
        check_everything(loaded, clock)
        newer = read_snapshot(loaded)
        decision = screens[0]
        assert isinstance(decision, DecisionScreen)
        decision.show_snapshot(newer, None)
        await app.push_screen(decision)
        await until(pilot, lambda: decision.is_mounted, "the dialog")
        summary = decision.query_one("#decision-readiness")
        await until(pilot, lambda: "BLOCKED" not in str(summary.render()), "the newest read")
        decision.dismiss(None)
        await pilot.pause()
        decision.show_snapshot(newer, None)  # gone: harmless too
        alive(app)
