"""Replay in the war room (`warroom replay`, H): the record shown, moved through, never written.

The day is tests/release_day.py's: every moment it recorded is replayed and
what the panes draw is checked against what people saw then. Both backends.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Footer

from tests.churn import Churn, lines_of, record_toasts, until
from tests.conftest import fingerprint, read_snapshot
from tests.tui_support import OpenRoom, make_app, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.catalog import ACTIONS
from warroom.domain.record import History
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.text import safe
from warroom.store.engine import Store
from warroom.testing.release_day import Day, at, rehearse
from warroom.tui.app import WarroomApp
from warroom.tui.screens.dashboard import DashboardScreen
from warroom.tui.screens.decision import DecisionScreen
from warroom.tui.screens.prompt import PromptScreen
from warroom.tui.screens.replay import ReplayScreen
from warroom.tui.screens.service import ServiceScreen
from warroom.tui.widgets.banner import TriggerBanner
from warroom.tui.widgets.checklist import Checklist
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.header import ReplayHeader

SIZE = (160, 48)  # wide enough for every deploy table column and a whole header


@pytest.fixture
def day(loaded: Store, clock: FixedClock) -> Day:
    return rehearse(loaded, clock)


def replay_of(app: WarroomApp) -> ReplayScreen:
    screen = app.screen
    assert isinstance(screen, ReplayScreen), screen
    return screen


@asynccontextmanager
async def open_replay(
    db_url: str,
    clock: FixedClock,
    moment: datetime | None,
    who: str = "sarah",
    simulator_url: str | None = None,
) -> AsyncIterator[tuple[WarroomApp, Pilot[None], ReplayScreen]]:
    """The app as `warroom replay --at MOMENT` opens it, once the replay is drawn."""
    app = make_app(db_url, who, clock, replay=True, replay_at=moment, simulator_url=simulator_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen), "the replay")
        await settled(pilot)
        yield app, pilot, replay_of(app)


# What a screen draws. (Queried on the screen: the app's own queries go to
# its default screen, the live room below the replay.)


def header(screen: Screen[None]) -> str:
    return str(screen.query_one(ReplayHeader).render())


def row(screen: Screen[None], service: str) -> str:
    """The deploy table's row for `service`, as drawn (its first cell names it)."""
    rows = [
        line
        for line in lines_of(screen.query_one(DeployTable))
        if line.strip().removeprefix("❯").split()[:1] == [service]
    ]
    assert len(rows) == 1, rows
    return rows[0]


def log_tail(screen: Screen[None]) -> str:
    """The log's last few drawn lines, as one string (the newest entry may wrap)."""
    strips = screen.query_one(CommsLog).lines.lines
    return " ".join(strip.text.strip() for strip in strips[-3:])


def banner(screen: Screen[None]) -> str:
    widget = screen.query_one(TriggerBanner)
    return "\n".join(lines_of(widget)) if widget.display else ""


async def drawn(pilot: Pilot[None], screen: ReplayScreen, moment: datetime) -> None:
    """Wait until the replay has moved to `moment` and drawn it."""
    await wait_until(
        pilot,
        lambda: (
            screen.playhead is not None
            and screen.playhead.moment == moment
            and screen.shown is screen.room.snapshot
        ),
        f"the replay at {moment:%H:%M:%S}",
    )
    await pilot.pause()


def shows_the_room_as_seen(screen: Screen[None], seen: ReleaseSnapshot, moment: datetime) -> None:
    """What every pane draws is what people saw at `moment` (`seen`, read live then)."""
    assert "REPLAY" in header(screen)
    assert f"{moment:%Y-%m-%d %H:%M:%S} UTC" in header(screen)
    for service in seen.services:
        drawn_row = row(screen, service.name)
        label = "held" if service.name in seen.holds else service.state.label
        assert label in drawn_row, (service.name, drawn_row)
        assert f"{service.steps_done}/{len(service.steps)}" in drawn_row
    checklist = screen.query_one(Checklist)
    for item in seen.all_items:
        assert ("☑" if item.done else "☐") in str(checklist._items[item.key].label), item.key
    decision = seen.decision
    assert checklist._decision is not None
    assert (decision.kind.value if decision else "none yet") in str(checklist._decision.label)
    firing = [t for t in seen.triggers if t.state == "firing" and not t.acked_by]
    assert bool(banner(screen)) == bool(firing)
    for trigger in firing:
        assert f"{trigger.rule} FIRING on {trigger.service}" in banner(screen)
    assert "roll back per plan" not in banner(screen)  # b and a act in the live room only
    last = seen.log[-1]
    assert safe(last.text)[:40] in log_tail(screen), (last.text, log_tail(screen))


# ---------------------------------------------------------------- opening at a moment


@pytest.mark.parametrize(
    "what",
    [
        "every item checked",
        "logging-service failed, auth-service done",
        "down fired",
        "rollback ordered",
        "health passing again",
    ],
)
async def test_replay_at_a_recorded_moment_shows_what_people_saw(
    day: Day, db_url: str, clock: FixedClock, what: str
) -> None:
    moment, seen = next((when, seen) for said, when, seen in day.moments if said == what)
    async with open_replay(db_url, clock, moment) as (_app, _pilot, screen):
        shows_the_room_as_seen(screen, seen, moment)
        assert screen.room.snapshot is not None
        assert screen.room.snapshot.log == seen.log  # said by then, and nothing later


async def test_replay_shows_health_as_recorded_and_the_runbook_as_it_was(
    day: Day, db_url: str, clock: FixedClock
) -> None:
    async with open_replay(db_url, clock, at(14, 36)) as (app, pilot, screen):
        assert "✗ failing" in row(screen, "user-service")  # the record's turn, not "stale"
        table = screen.query_one(DeployTable)
        table.focus()
        table.select("user-service")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ServiceScreen), "the runbook")
        body = "\n".join(lines_of(app.screen.query_one("#service-body")))
        assert "5. Verify integrations   lisa at 14:33:00 UTC" in body
        assert "done" in body and "failing (as recorded)" in body
        assert "rolling back" not in body  # ordered at 14:37: not yet
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen), "back")


async def test_replay_opens_at_the_end_of_the_record_by_default(
    day: Day, db_url: str, clock: FixedClock
) -> None:
    seen = day.moments[-1][2]
    async with open_replay(db_url, clock, None) as (_app, _pilot, screen):
        assert screen.playhead is not None
        assert screen.playhead.count == screen.playhead.total
        assert screen.playhead.moment == at(14, 40, 30)  # the last event: health passing again
        assert f"event {screen.playhead.total}/{screen.playhead.total}" in header(screen)
        assert seen.log[-1].text[:30] in log_tail(screen)


# ---------------------------------------------------------------- moving


async def test_each_key_moves_exactly_one_event_one_minute_ten_minutes_or_to_a_mark(
    day: Day, db_url: str, clock: FixedClock
) -> None:
    async with open_replay(db_url, clock, at(14, 21)) as (app, pilot, screen):
        playhead = screen.playhead
        assert playhead is not None and playhead.count == 42  # user-service's first step
        assert "1/5" in row(screen, "user-service")

        async def press(key: str, moment: datetime, count: int) -> None:
            await pilot.press(key)
            await drawn(pilot, screen, moment)
            assert screen.playhead is not None and screen.playhead.count == count
            assert f"{moment:%H:%M:%S} UTC" in header(screen)
            assert f"event {count}/" in header(screen)

        await press("full_stop", at(14, 24), 43)  # one event on: step 2
        assert "2/5" in row(screen, "user-service") and "verifying" in row(screen, "user-service")
        await press("comma", at(14, 21), 42)  # and back
        assert "1/5" in row(screen, "user-service") and "deploying" in row(screen, "user-service")
        assert "step 1/5 done" in log_tail(screen)

        await press("right_curly_bracket", at(14, 31), 45)  # ten minutes: steps 2, 3, 4
        assert "4/5" in row(screen, "user-service")
        assert "step 4/5 done: Check error rates" in log_tail(screen)
        await press("left_square_bracket", at(14, 30), 45)  # a minute back: 14:30's step held
        await press("left_square_bracket", at(14, 29), 44)
        assert "3/5" in row(screen, "user-service")
        await press("right_square_bracket", at(14, 30), 45)
        await press("left_curly_bracket", at(14, 20), 41)  # ten minutes back: auth-service done
        assert "done" in row(screen, "auth-service") and "waiting" in row(screen, "user-service")

        await press("greater_than_sign", at(14, 35), 50)  # the next mark: down goes pending
        assert "… down" in row(screen, "user-service")
        assert not banner(screen)
        await press("greater_than_sign", at(14, 35, 10), 51)  # it fires
        assert "down FIRING on user-service" in banner(screen)
        await press("less_than_sign", at(14, 35), 50)
        await press("less_than_sign", at(13, 31), 31)  # back past the deploys to the GO
        checklist = screen.query_one(Checklist)
        assert checklist._decision is not None and "GO" in str(checklist._decision.label)
        assert "waiting" in row(screen, "api-gateway")

        said = record_toasts(app)
        await pilot.press("less_than_sign")  # nothing before the GO
        await wait_until(pilot, lambda: bool(said), "the edge")
        assert "No trigger change or decision before 13:31:00 UTC" in said[-1]
        assert screen.playhead is not None and screen.playhead.count == 31


# ---------------------------------------------------------------- read-only


# Every key that would change something: each command, and the demo's fault.
ACTION_KEYS = [
    spec
    for spec in ACTIONS
    if spec.binding is not None and (spec.build is not None or spec.name == "inject_fault")
]


async def answer(pilot: Pilot[None], said: list[str], press: Callable[[], Awaitable[None]]) -> str:
    """What the app says after `press` (the toast it shows)."""
    count = len(said)
    await press()
    await wait_until(pilot, lambda: len(said) > count, "the answer")
    return said[-1]


async def test_every_action_key_is_refused_in_one_sentence_and_nothing_is_written(
    day: Day, loaded: Store, db_url: str, clock: FixedClock
) -> None:
    # sarah, the release manager, may do everything in the live room; the
    # moment has a trigger firing (a, b) and a service mid-deploy (n, x ...).
    # The simulator's URL makes F live too; nothing ever reaches it.
    simulator = "http://127.0.0.1:9"
    async with open_replay(db_url, clock, at(14, 35, 10), simulator_url=simulator) as (
        app,
        pilot,
        screen,
    ):
        before = fingerprint(loaded)
        said = record_toasts(app)

        # The footer keeps to what works here (help and the palette list the rest).
        def footer_text() -> str:
            return " ".join(
                str(key.render()) for key in screen.query_one(Footer).query("FooterKey")
            )

        # The footer recomposes its keys as bindings refresh: wait for them.
        await wait_until(pilot, lambda: "esc Live room" in footer_text(), "the replay's footer")
        footer = footer_text()
        assert "< >" in footer and "? Help" in footer
        assert "Step done" not in footer and "Rollback" not in footer, footer
        keys = {spec.binding.key for spec in ACTION_KEYS if spec.binding}
        assert keys >= {"n", "u", "s", "D", "x", "r", "R", "a", "b", "F", "g", "m", "space"}
        sentence = "replay is read-only: this is the room as it was at 14:35:10 UTC"
        for spec in ACTION_KEYS:
            key = spec.binding
            assert key is not None
            pane = Checklist if key.owner == "checklist" else DeployTable
            screen.query_one(pane).focus()
            await pilot.pause()
            assert screen.check_action(spec.name, ()) is not True, spec.name  # greyed
            refusal = await answer(pilot, said, partial(pilot.press, key.key))
            assert refusal.startswith(sentence), (spec.name, refusal)
            assert app.screen is screen, f"{spec.name} opened {app.screen}"
        # From the log pane, `m` is the screen's too (the message box is gone).
        screen.query_one(CommsLog).lines.focus()
        refusal = await answer(pilot, said, partial(pilot.press, "m"))
        assert refusal.startswith(sentence)
        # The palette names every action, and refuses the same way.
        commands = {c.title: c for c in app.get_system_commands(screen)}
        assert "not for you: replay is read-only" in commands["Complete next runbook step"].help

        async def decide() -> None:
            commands["Record go/no-go decision"].callback()

        assert (await answer(pilot, said, decide)).startswith(sentence)
        assert not isinstance(app.screen, PromptScreen | DecisionScreen)
        await pilot.pause()
        assert fingerprint(loaded) == before
        # Reading is not acting: W offers to write the day's report, as live.
        assert screen.check_action("write_report", ()) is True
        await pilot.press("W")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), "W's prompt")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "back in the replay")


# ---------------------------------------------------------------- from the live room


async def test_H_opens_a_replay_at_now_and_esc_returns_to_a_live_room_that_kept_up(
    loaded: Store, clock: FixedClock, open_room: OpenRoom
) -> None:
    async with open_room("sarah", size=SIZE) as (app, pilot):
        live = app.screen
        assert isinstance(live, DashboardScreen)
        with Churn(loaded, clock, steps=False) as churn:
            await wait_until(pilot, lambda: churn.count >= 3, "the first changes")
            opened_at = clock.now()
            await pilot.press("H")
            await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen), "the replay")
            screen = replay_of(app)
            await wait_until(pilot, lambda: screen.playhead is not None, "the record")
            assert screen.playhead is not None and screen.playhead.moment >= opened_at
            assert "REPLAY" in header(screen)
            await pilot.press("comma", "comma", "left_curly_bracket")
            at_open = app.snapshot
            changes = churn.count
            await wait_until(pilot, lambda: churn.count >= changes + 10, "changes meanwhile")
            # Underneath, the live room follows every change as it comes.
            await wait_until(
                pilot,
                lambda: app.snapshot is not at_open and live.shown is app.snapshot,
                "the live room below to draw a newer read",
            )
            assert app.screen is screen  # while the replay stays on screen, unmoved
            await pilot.press("escape")
            assert app.screen is live
        await settled(pilot)
        latest = read_snapshot(loaded)
        assert live.shown is app.snapshot and app.snapshot is not None
        assert app.snapshot.revision == latest.revision
        assert safe(latest.log[-1].text)[:30] in log_tail(live)
        assert "● live" in str(live.query_one("#header").render())


async def test_a_trigger_that_fires_live_meanwhile_is_announced_in_the_replay(
    go: Store, clock: FixedClock, open_room: OpenRoom
) -> None:
    raj = Commands(go, clock, "raj")
    for _ in range(4):
        raj.complete_step("api-gateway")  # done: its error-rate rule watches it
    async with open_room("sarah", size=SIZE) as (app, pilot):
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen), "the replay")
        said = record_toasts(app)
        # api-gateway answers with 5% errors: its `error-rate` rule fires after 2m of samples.
        with Churn(go, clock, steps=False):
            await until(
                pilot,
                lambda: any("Live: error-rate@api-gateway is firing now" in s for s in said),
                "the live trigger announced",
            )
        assert isinstance(app.screen, ReplayScreen)  # announced, not taken away


async def test_the_record_is_read_off_the_event_loop_while_the_screen_says_so(
    day: Day, db_url: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    read = WarroomApp.read_history

    def slow_read(app: WarroomApp) -> History | None:
        release.wait(timeout=30)  # a long day's record, held until the test lets go
        return read(app)

    monkeypatch.setattr(WarroomApp, "read_history", slow_read)
    app = make_app(db_url, "sarah", clock, replay=True, replay_at=at(14, 37))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen), "the replay")
        screen = replay_of(app)
        empty = screen.query_one("#empty")
        await wait_until(pilot, lambda: "Reading the record" in str(empty.render()), "the note")
        assert "reading the record" in header(screen)
        said = record_toasts(app)
        await pilot.press("full_stop")  # the event loop answers meanwhile
        await wait_until(pilot, lambda: bool(said), "an answer")
        assert said[-1] == "Still reading the record…"
        release.set()
        await settled(pilot)
        assert empty.display is False
        assert "14:37:00 UTC" in header(screen)


async def test_panes_focus_and_zoom_as_live_and_esc_unzooms_before_it_leaves(
    day: Day, db_url: str, clock: FixedClock
) -> None:
    async with open_replay(db_url, clock, at(14, 37)) as (app, pilot, screen):
        await pilot.press("5")
        assert screen.focused is screen.query_one(CommsLog).lines
        await pilot.press("z")
        assert screen.maximized is screen.query_one("#pane-log")
        await pilot.press("escape")
        assert screen.maximized is None and app.screen is screen
        await pilot.press("2", "down")
        await wait_until(pilot, lambda: screen.selected == "auth-service", "the selection")
        await pilot.pause()
        assert "❯ auth-service" in "\n".join(lines_of(screen.query_one(DeployTable)))
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen) and not isinstance(app.screen, ReplayScreen)


async def test_esc_from_warroom_replay_starts_the_live_room_then(
    day: Day, loaded: Store, db_url: str, clock: FixedClock
) -> None:
    async with open_replay(db_url, clock, at(14, 37)) as (app, pilot, _screen):
        # The record had the machine to itself: no live read, no heartbeat yet.
        assert app.snapshot is None and not app.loaded
        assert not any(w.group in {"reload", "feed", "presence"} for w in app.workers)
        await pilot.press("escape")
        live = app.screen
        assert isinstance(live, DashboardScreen) and not isinstance(live, ReplayScreen)
        await settled(pilot)
        latest = read_snapshot(loaded)
        assert app.snapshot is not None and app.snapshot.revision == latest.revision
        assert "● live" in str(live.query_one("#header").render())
        assert safe(latest.log[-1].text)[:30] in log_tail(live)
