"""Pilot tests: every dashboard action, allowed and refused, through the real store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual import events

from tests.churn import lines_of
from tests.conftest import read_snapshot
from tests.tui_support import SIZE, OpenRoom, make_app, select_service, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.defs import PostMessage
from warroom.domain.lifecycle import DeployState
from warroom.store.engine import Store
from warroom.tui.app import WarroomApp
from warroom.tui.screens.dashboard import DashboardScreen
from warroom.tui.screens.decision import DecisionScreen
from warroom.tui.screens.help import HelpScreen
from warroom.tui.screens.prompt import PromptScreen
from warroom.tui.screens.service import ServiceScreen
from warroom.tui.widgets.checklist import Checklist
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.header import WarroomHeader


def toasts(app: WarroomApp) -> list[str]:
    return [n.message for n in app._notifications]


def dashboard(app: WarroomApp) -> DashboardScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, DashboardScreen)
    return screen


def state(store: Store, service: str) -> DeployState:
    view = read_snapshot(store).service(service)
    assert view is not None
    return view.state


# ---------------------------------------------------------------- what is on screen


async def test_dashboard_fills_all_five_panes(loaded: Store, open_room: OpenRoom) -> None:
    async with open_room("sarah") as (app, pilot):
        table = app.query_one(DeployTable)
        assert [str(k.value) for k in table.rows] == read_snapshot(loaded).deploy_order
        header = str(app.query_one(WarroomHeader).render())
        assert "sarah" in header and "release manager" in header and "T-40m" in header
        log = app.query_one(CommsLog).lines
        await wait_until(
            pilot,
            lambda: any("Release v2.5.0 loaded" in line.text for line in log.lines),
            "the log",
        )
        checklist = app.query_one(Checklist)
        assert "gng-1" in str(checklist._items["gng-1"].label)
        assert app.query_one("#empty").display is False


async def test_no_release_says_how_to_load_one(open_room: OpenRoom) -> None:
    async with open_room("sarah") as (app, _):
        empty = app.query_one("#empty")
        assert empty.display is True
        assert "load PLAN --as MANAGER" in str(empty.render())
        assert "warroom --db " in str(empty.render())


async def test_unreachable_database_is_shown_and_retried(tmp_path: Path, clock: FixedClock) -> None:
    app = make_app(tmp_path / "missing-folder" / "warroom.db", "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        header = app.query_one(WarroomHeader)
        await wait_until(
            pilot,
            lambda: "disconnected — retrying" in str(header.render()),
            "the header to say the database is unreachable",
        )
        assert not app.connected
        assert "Cannot reach the database" in str(app.query_one("#empty").render())
        # Acting while disconnected is refused out loud, never queued.
        app.run_command(PostMessage("hello"))
        await wait_until(pilot, lambda: any("Not sent" in t for t in toasts(app)), "the refusal")
        # The folder appears: the app recovers by itself.
        (tmp_path / "missing-folder").mkdir()
        await wait_until(pilot, lambda: app.connected, "the app to reconnect", tries=400)
        await settled(pilot)
        assert "live" in str(app.query_one(WarroomHeader).render())


async def test_a_person_not_in_the_plan_is_read_only(loaded: Store, open_room: OpenRoom) -> None:
    async with open_room("mallory") as (app, pilot):
        assert "not in this plan" in str(app.query_one(WarroomHeader).render())
        assert dashboard(app).check_action("next_step", ()) is None
        await pilot.press("n")
        assert any("not a person in this release" in t for t in toasts(app))


# ---------------------------------------------------------------- runbook actions


async def test_oncall_completes_steps_with_one_key(go: Store, open_room: OpenRoom) -> None:
    async with open_room("raj") as (app, pilot):
        await select_service(pilot, "api-gateway")
        assert dashboard(app).check_action("next_step", ()) is True
        await pilot.press("n")
        await settled(pilot)
        assert state(go, "api-gateway") is DeployState.DEPLOYING
        # A step at a time, each once the screen shows the last one: pressed
        # faster, the next n carries the version the person saw before it,
        # and is refused as acting on a stale view (which a busy CPU exposed).
        table = app.query_one(DeployTable)

        def shows(steps: str) -> Callable[[], bool]:
            return lambda: steps in str(table.get_cell("api-gateway", "steps"))

        for done in ("2/4", "3/4", "4/4"):
            await pilot.press("n")
            await wait_until(pilot, shows(done), f"step {done} on screen")
        assert state(go, "api-gateway") is DeployState.DONE
        await settled(pilot)
        cell = app.query_one(DeployTable).get_cell("api-gateway", "state")
        assert "done" in str(cell)
        await pilot.press("u")
        await settled(pilot)
        assert state(go, "api-gateway") is DeployState.VERIFYING


async def test_other_teams_steps_are_greyed_out_and_refused(go: Store, open_room: OpenRoom) -> None:
    async with open_room("lisa") as (app, pilot):
        await select_service(pilot, "api-gateway")
        assert dashboard(app).check_action("next_step", ()) is None  # disabled, not hidden
        before = read_snapshot(go)
        await pilot.press("n")
        await pilot.pause()
        assert any("api-gateway belongs to team infra" in t for t in toasts(app))
        assert read_snapshot(go) == before


async def test_lifecycle_refusal_comes_back_as_a_notification(
    go: Store, open_room: OpenRoom
) -> None:
    async with open_room("lisa") as (app, pilot):
        await select_service(pilot, "auth-service")
        await pilot.press("s")
        await wait_until(
            pilot, lambda: any("api-gateway is waiting" in t for t in toasts(app)), "refusal"
        )
        assert state(go, "auth-service") is DeployState.WAITING


async def test_start_finish_fail_and_roll_back(
    go: Store, clock: FixedClock, open_room: OpenRoom
) -> None:
    for _ in range(4):
        Commands(go, clock, "raj").complete_step("api-gateway")
    async with open_room("lisa") as (lisa, pilot):
        await select_service(pilot, "auth-service")
        await pilot.press("s")
        await settled(pilot)
        assert state(go, "auth-service") is DeployState.DEPLOYING
        await pilot.press("D")
        await wait_until(
            pilot,
            lambda: any("4 runbook steps are still open" in t for t in toasts(lisa)),
            "refusal",
        )
        await pilot.press("x")
        assert isinstance(lisa.screen, PromptScreen)
        await pilot.press(*"5xx spike", "enter")
        await settled(pilot)
        assert state(go, "auth-service") is DeployState.FAILED
        assert read_snapshot(go).log[-1].text == "✗ auth-service 2.3.0 FAILED: 5xx spike"
        await pilot.press("r")  # only the release manager orders rollbacks
        assert not isinstance(lisa.screen, PromptScreen)
        assert any("only the release manager" in t for t in toasts(lisa))
    async with open_room("sarah") as (_, pilot):
        await select_service(pilot, "auth-service")
        await pilot.press("r", *"error rate", "enter")
        await settled(pilot)
        assert state(go, "auth-service") is DeployState.ROLLING_BACK
        await pilot.press("R")
        await settled(pilot)
        assert state(go, "auth-service") is DeployState.ROLLED_BACK


async def test_prompt_escape_cancels(go: Store, clock: FixedClock, open_room: OpenRoom) -> None:
    Commands(go, clock, "raj").complete_step("api-gateway")
    async with open_room("raj") as (app, pilot):
        await select_service(pilot, "api-gateway")
        await pilot.press("x", "a", "escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert state(go, "api-gateway") is DeployState.DEPLOYING


async def test_runbook_opens_with_who_did_what(
    go: Store, clock: FixedClock, open_room: OpenRoom
) -> None:
    Commands(go, clock, "raj").complete_step("api-gateway")
    async with open_room("sarah") as (app, pilot):
        await select_service(pilot, "api-gateway")
        await pilot.press("enter")
        assert isinstance(app.screen, ServiceScreen)
        assert app.screen.service == "api-gateway"
        # What is drawn (str() of the Static gives its Table object, never the text).
        body = app.screen.query_one("#service-body")
        await wait_until(pilot, lambda: any(lines_of(body)), "the runbook drawn")
        drawn = "\n".join(lines_of(body))
        assert "☑ 1. Deploy 1.8.0   raj at 14:00:00" in drawn, drawn
        assert "☐ 2. Run smoke tests" in drawn, drawn
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


# ---------------------------------------------------------------- triggers


async def test_a_leads_call_and_its_acknowledgement(go: Store, open_room: OpenRoom) -> None:
    async with open_room("mike") as (mike, pilot):
        await select_service(pilot, "user-service")
        await pilot.press("exclamation_mark", *"customers see 500s", "enter")
        await settled(pilot)
        cell = mike.query_one(DeployTable).get_cell("user-service", "service")
        assert "⚠" in str(cell)
        await pilot.press("a")  # team leads do not acknowledge (DESIGN's role table)
        await pilot.pause()
        assert any("mike (team lead" in t for t in toasts(mike))
    async with open_room("lisa") as (_, pilot):
        await select_service(pilot, "user-service")
        await pilot.press("a")
        await settled(pilot)
        trigger = read_snapshot(go).trigger("lead-call@user-service")
        assert trigger is not None and trigger.acked_by == "lisa" and trigger.state == "resolved"


# ---------------------------------------------------------------- checklists and the decision


async def test_team_lead_toggles_own_items_only(loaded: Store, open_room: OpenRoom) -> None:
    async with open_room("mike") as (app, pilot):
        checklist = app.query_one(Checklist)
        checklist.focus()
        checklist.move_cursor(checklist._items["backend-1"])
        await pilot.press("space")
        await settled(pilot)
        item = read_snapshot(loaded).item("backend-1")
        assert item is not None and item.done_by == "mike"
        assert "☑" in str(checklist._items["backend-1"].label)
        await pilot.press("space")
        await settled(pilot)
        item = read_snapshot(loaded).item("backend-1")
        assert item is not None and not item.done
        checklist.move_cursor(checklist._items["gng-1"])
        await pilot.press("space")
        await pilot.pause()
        assert any("only the release manager" in t for t in toasts(app))
        item = read_snapshot(loaded).item("gng-1")
        assert item is not None and not item.done


async def test_decision_dialog_records_go(
    loaded: Store, clock: FixedClock, open_room: OpenRoom
) -> None:
    from tests.conftest import check_everything

    check_everything(loaded, clock)
    async with open_room("sarah") as (app, pilot):
        await pilot.press("g")
        assert isinstance(app.screen, DecisionScreen)
        app.screen.query_one("#decision-rationale").focus()
        await pilot.press(*"all teams ready", "enter")
        await settled(pilot)
        decision = read_snapshot(loaded).decision
        assert (
            decision is not None
            and decision.kind.value == "GO"
            and decision.rationale == "all teams ready"
        )


async def test_decision_dialog_refuses_early_and_stays_open(
    loaded: Store, open_room: OpenRoom
) -> None:
    async with open_room("sarah") as (app, pilot):
        await pilot.press("g")
        screen = app.screen
        assert isinstance(screen, DecisionScreen)
        screen.query_one("#kind-partial").value = True  # type: ignore[attr-defined]
        await pilot.pause()
        screen.query_one("#decision-subset").select("auth-service")  # type: ignore[attr-defined]
        await pilot.pause()
        assert "Not closed: auth-service needs api-gateway" in str(
            screen.query_one("#decision-check").render()
        )
        screen.query_one("#decision-rationale").focus()
        await pilot.press(*"backend only", "enter")
        await pilot.pause()
        assert app.screen is screen  # still open, with the reason shown
        assert read_snapshot(loaded).decision is None


async def test_only_the_release_manager_opens_the_decision(
    loaded: Store, open_room: OpenRoom
) -> None:
    async with open_room("lisa") as (app, pilot):
        assert dashboard(app).check_action("decide", ()) is None
        await pilot.press("g")
        await pilot.pause()
        assert not isinstance(app.screen, DecisionScreen)
        assert any("may not record the go/no-go decision" in t for t in toasts(app))


# ---------------------------------------------------------------- talking


async def test_post_a_message_from_the_keyboard(loaded: Store, open_room: OpenRoom) -> None:
    async with open_room("pat") as (app, pilot):
        await pilot.press("m", *"support is standing by", "enter")
        await settled(pilot)
        entry = read_snapshot(loaded).log[-1]
        assert (entry.author, entry.text) == ("pat", "support is standing by")
        await wait_until(
            pilot,
            lambda: "support is standing by" in app.query_one(CommsLog).lines.lines[-1].text,
            "the message to appear in the log",
        )


async def test_log_filter_shows_only_system_lines(
    loaded: Store, clock: FixedClock, open_room: OpenRoom
) -> None:
    Commands(loaded, clock, "mike").post_message("hello from backend")
    async with open_room("pat") as (app, pilot):
        log = app.query_one(CommsLog)
        assert any("hello from backend" in line.text for line in log.lines.lines)
        log.set_filter("system")
        await pilot.pause()
        assert not any("hello from backend" in line.text for line in log.lines.lines)
        log.set_filter("team:backend")
        await pilot.pause()
        assert any("hello from backend" in line.text for line in log.lines.lines)
        assert not any("Release v2.5.0 loaded" in line.text for line in log.lines.lines)


# ---------------------------------------------------------------- live refresh


async def test_a_change_from_another_process_appears_without_a_keypress(
    loaded: Store, db_url: str, open_room: OpenRoom
) -> None:
    async with open_room("sarah") as (app, pilot):
        env = {
            **os.environ,
            "WARROOM_DB": db_url,
            "WARROOM_NOW": "2024-03-20T13:21:00Z",
        }
        warroom = str(Path(sys.executable).parent / "warroom")
        subprocess.run(
            [warroom, "say", "--as", "mike", "written elsewhere"], env=env, check=True, timeout=60
        )
        subprocess.run(
            [warroom, "item", "check", "backend-1", "--as", "mike"], env=env, check=True, timeout=60
        )
        await wait_until(
            pilot,
            lambda: any(
                "written elsewhere" in line.text for line in app.query_one(CommsLog).lines.lines
            ),
            "the other process's message",
        )
        await wait_until(
            pilot,
            lambda: "☑" in str(app.query_one(Checklist)._items["backend-1"].label),
            "the other process's check-mark",
        )


# ---------------------------------------------------------------- keyboard navigation


async def test_keyboard_only_navigation_between_panes(loaded: Store, open_room: OpenRoom) -> None:
    async with open_room("sarah") as (app, pilot):
        expected = {"1": "graph", "2": "deploys", "4": "checklist", "5": "log-lines"}
        for key, widget_id in expected.items():
            await pilot.press(key)
            assert app.focused is not None and app.focused.id == widget_id
        await pilot.press("2", "tab")
        assert app.focused is not None and app.focused.id != "deploys"
        await pilot.press("shift+tab")
        assert app.focused is not None and app.focused.id == "deploys"


async def test_keys_typed_ahead_after_a_pane_key_go_to_that_pane(
    loaded: Store, open_room: OpenRoom
) -> None:
    # Over SSH (or from a fast typist) "4", Down, Space arrive in one read and
    # are queued together: Down and Space must reach the checklist, not the
    # pane that had focus before "4".
    async with open_room("sarah") as (app, pilot):
        for key, character in (("4", "4"), ("down", None), ("space", " ")):
            app.post_message(events.Key(key, character))

        def done(key: str) -> bool:
            item = read_snapshot(loaded).item(key)
            return item is not None and item.done

        await wait_until(pilot, lambda: done("gng-2"), "gng-2 checked")
        assert not done("gng-1")


async def test_a_message_typed_ahead_after_m_lands_in_the_box(
    loaded: Store, open_room: OpenRoom
) -> None:
    async with open_room("sarah") as (app, pilot):
        # One read's worth of keys: in the box, "5" is not the log pane, "m"
        # not "compose" and "n" not "step done" — they are the message.
        text = "5 more min"
        typed = [("space" if c == " " else c, c) for c in text]
        for key, character in [("m", "m"), *typed, ("enter", "\r")]:
            app.post_message(events.Key(key, character))
        await wait_until(
            pilot,
            lambda: any(e.text == text for e in read_snapshot(loaded).log),
            "the message in the log",
        )


async def test_zoom_and_unzoom_a_pane(loaded: Store, open_room: OpenRoom) -> None:
    async with open_room("sarah") as (app, pilot):
        await pilot.press("2", "z")
        maximized = dashboard(app).maximized
        assert maximized is not None and maximized.id == "pane-deploys"
        await pilot.press("escape")
        assert dashboard(app).maximized is None


async def test_help_lists_every_key(loaded: Store, open_room: OpenRoom) -> None:
    async with open_room("sarah") as (app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_command_palette_offers_every_action(loaded: Store, open_room: OpenRoom) -> None:
    async with open_room("lisa") as (app, _):
        titles = {
            command.title: command.help for command in app.get_system_commands(dashboard(app))
        }
        for action in (
            "Complete next runbook step",
            "Record go/no-go decision",
            "Order rollback",
            "Acknowledge trigger",
            "Write a message",
            "Zoom pane",
        ):
            assert action in titles
        assert "not for you" in titles["Record go/no-go decision"]


@pytest.fixture
def far_clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


async def test_a_long_past_release_still_renders(
    loaded: Store, db_url: str, far_clock: FixedClock
) -> None:
    app = make_app(db_url, "sarah", far_clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert "T+" in str(app.query_one(WarroomHeader).render())
        assert "d" in str(app.query_one(WarroomHeader).render()).split("T+")[1][:8]
