"""Replay: the war room as it was at any moment of the day, read-only.

`warroom replay [--at TIME]` opens it, and so does `H` in the live room (at
"now"); esc goes back to the live room, which kept following the release
underneath all along (it is the screen below this one, and the app hands it
every fresh read as usual).

Two decisions shape this module.

**The replay is the dashboard, fed from the record.** Every pane, the
selection, zoom, focus and Enter's runbook read what they show through
`screen.room` (the snapshot, the clock, the viewer). `ReplayScreen` is a
`DashboardScreen` whose room is a `ReplayRoom`: its snapshot is the record's
at the playhead (domain/replay.py) and its clock stands still at the
playhead's moment. So all five panes behave exactly as live, with no second
copy of any of them to keep in step, and a pane that learns something new
learns it for both.

**Action keys stay bound and are refused in one sentence** ("replay is
read-only: …"), rather than the dashboard being built from a read-only
table. The palette and the help then show the room people know, greyed
where they cannot act, like a key the viewer's role may not use (the footer
keeps to the keys that work here: with the action keys in it too, it had no
room left for `? Help`); and a key pressed from habit (`n` at 14:37 to "complete" a step) says why
nothing happened instead of doing nothing, or something else. Rows that move
the view or only read (the report, W) work here as live; the replay's own
keys are rows of the same table whose owner is REPLAY.

Reading the record reads every audit event of the release: it runs in a
thread worker, with "Reading the record…" on screen until it is in. Moving
then costs a fold of at most `History.stride` events and drawing what
changed (benchmarks/bench_replay.py).
"""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from warroom.clock import FixedClock
from warroom.commands import defs as d
from warroom.commands.catalog import REPLAY, Key, Spec
from warroom.domain.record import Event, History
from warroom.domain.replay import Playhead, Reel
from warroom.domain.snapshot import PersonView, Present, ReleaseSnapshot
from warroom.domain.text import safe
from warroom.domain.timeline import when
from warroom.store.reading import Store
from warroom.tui.room import AppConfig, Room, room
from warroom.tui.screens.acting import SCREEN
from warroom.tui.screens.dashboard import DashboardScreen
from warroom.tui.widgets.banner import TriggerBanner, unacknowledged
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.header import ReplayHeader

# Log lines a replay shows: the newest said by then (the live room keeps
# 2,000). A jump, or a step back past a line, writes the pane afresh, and
# Rich wraps a line in about half a millisecond: a hundred keep that well
# inside a keypress (benchmarks/bench_replay.py), and fill a zoomed pane twice.
LOG_LIMIT = 100


def describe(event: Event) -> str:
    """An event in a few words: who, what, and on what (`sarah rollback.start user-service`)."""
    after = event.after
    names = [
        *after.get("services", {}),
        *after.get("triggers", {}),
        *after.get("items", {}),
        *after.get("health", {}),
    ]
    subject = ", ".join(names[:3]) + (" …" if len(names) > 3 else "")
    return f"{event.actor} {event.action} {subject}".rstrip()


class ReplayRoom:
    """The room as a replay shows it: the record at the playhead, its clock
    stopped at the playhead's moment. Settings and the viewer's name are the
    live room's."""

    def __init__(self, live: Room) -> None:
        self.live = live
        self.playhead: Playhead | None = None
        self._snapshot: ReleaseSnapshot | None = None
        self._clock = FixedClock(live.clock.now())

    def move(self, playhead: Playhead) -> None:
        self.playhead = playhead
        self._clock.set(playhead.moment)
        snapshot = playhead.snapshot
        if len(snapshot.log) > LOG_LIMIT:
            snapshot = replace(snapshot, log=snapshot.log[-LOG_LIMIT:])
        self._snapshot = snapshot

    @property
    def config(self) -> AppConfig:
        return self.live.config

    @property
    def clock(self) -> FixedClock:
        return self._clock

    @property
    def snapshot(self) -> ReleaseSnapshot | None:
        return self._snapshot

    @property
    def loaded(self) -> bool:
        return self.playhead is not None

    @property
    def connected(self) -> bool:
        return True  # the record is in memory: a replay does not need the database

    @property
    def last_error(self) -> str | None:
        return None

    @property
    def present(self) -> list[Present]:
        return []

    @property
    def me(self) -> PersonView | None:
        snapshot = self._snapshot
        return snapshot.person(self.config.identity) if snapshot else None

    def request_reload(self, topics: frozenset[str] | None) -> None:
        """Nothing to read again: the record does not change under a replay."""

    def store(self) -> Store:
        """The live room's store: a runbook's charts read the samples kept there."""
        return self.live.store()

    def run_command(self, command: d.Command[str]) -> None:
        raise AssertionError(f"a replay never acts ({command!r}): ReplayScreen refuses first")

    def read_history(self) -> History | None:
        return self.live.read_history()

    # The report (W) reads the whole record, as from the live room: it writes
    # a file, never the room.

    def report_path(self, release: str) -> Path:
        return self.live.report_path(release)

    def write_report(self, path: Path) -> None:
        self.live.write_report(path)


class ReplayScreen(DashboardScreen):
    """The dashboard at a moment of the record; keys move the moment (see the module)."""

    KEYS: ClassVar[tuple[str, ...]] = (REPLAY, SCREEN)  # its own keys lead the footer
    HEADER = ReplayHeader
    READING = (
        "Reading the record…\n\n(every event of the release, to rebuild the room at any moment)"
    )

    class RecordRead(Message):
        """The release's record is in (None: no release is loaded)."""

        def __init__(self, history: History | None) -> None:
            self.history = history
            super().__init__()

    def __init__(self, at: datetime | None = None, selected: str | None = None) -> None:
        """A replay at `at` (None: the end of the record), `selected` selected."""
        super().__init__()
        self._at = at
        self._replay: ReplayRoom | None = None
        self._live_firing: set[str] | None = None
        self._closed = False
        self._froze = False  # this replay froze what was alive when its record was in
        if selected is not None:
            self.set_reactive(DashboardScreen.selected, selected)

    @property
    def room(self) -> ReplayRoom:
        if self._replay is None:
            self._replay = ReplayRoom(room(self.app))
        return self._replay

    @property
    def playhead(self) -> Playhead | None:
        """Where the replay is (None: the record is still being read)."""
        return self.room.playhead

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(CommsLog).make_read_only()
        self.query_one(TriggerBanner).offers_keys = False  # b, a and i act in the live room
        self._show_header(None)  # REPLAY, reading the record…
        live = room(self.app).snapshot
        if live is not None:  # (`warroom replay` opens before the first live read)
            self._live_firing = {t.id for t in unacknowledged(live)}
        self._read_record()

    # ---------------------------------------------------------------- the record

    # The record and the cyclic garbage collector. A day's record is some
    # half a million small objects with no cycles among them, alive for as
    # long as the replay is. Collected like any others, they cost twice over:
    # reading with the collector on doubles the read (it walks them again
    # and again as they pile up), and every full collection afterwards walks
    # all of them, a second or so each, every few seconds of moving through
    # the day (benchmarks/bench_replay.py). So the collector is off while
    # the record is read, and what is alive then is frozen (gc.freeze: full
    # collections leave it alone) until the replay closes, when references
    # to the record are dropped (refcounting frees it) and it is unfrozen —
    # unless something froze objects before (an SSH session's preloaded
    # code, shared with its siblings: unfreezing would copy those pages).

    @work(thread=True, exclusive=True, group="record", exit_on_error=False)
    def _read_record(self) -> None:
        collecting = gc.isenabled()
        gc.disable()
        try:
            history = self.room.read_history()
            if collecting and not self._closed:
                self._froze = gc.get_freeze_count() == 0
                gc.freeze()
        finally:
            if collecting:
                gc.enable()
        self.post_message(self.RecordRead(history))

    def on_unmount(self) -> None:
        self._closed = True
        self.room.playhead = None  # the record, freed as soon as nothing holds it
        if self._froze:
            gc.unfreeze()

    @on(Worker.StateChanged)
    def _record_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "record" and event.state is WorkerState.ERROR:
            error = escape(safe(str(event.worker.error)))  # the database's words: text
            self._show_empty(f"Cannot read the record:\n{error}\n\nesc goes back to the live room.")

    def on_replay_screen_record_read(self, message: RecordRead) -> None:
        history = message.history
        if history is None:
            self._show_empty(
                "No release is loaded: there is no record to replay.\n\n"
                "esc goes back to the live room."
            )
            return
        reel = Reel(history, opened_at=self._at)
        playhead = reel.at(self._at)
        if self._at is not None and self._at < reel.start:
            zone = history.base.release.timezone
            self.notify(
                f"The record starts at {when(reel.start, zone, '%H:%M:%S')}, "
                "when the plan was loaded: showing that.",
                title="Replay",
            )
        self._go(playhead)

    # ---------------------------------------------------------------- moving

    def _go(self, playhead: Playhead) -> None:
        self.room.move(playhead)
        # Everything: a step can touch any pane, and each pane redraws only
        # what differs (the log appends, or is written afresh going back).
        super().show_snapshot(self.room.snapshot, None)

    def go_to(self, moment: datetime) -> None:
        """The replay at `moment` (kept within the record), as `--at` opens it."""
        playhead = self.playhead
        self._move(playhead and playhead.reel.at(moment), "")

    def _move(self, moved: Playhead | None, why_not: str) -> None:
        playhead = self.playhead
        if playhead is None or moved is None:
            self.notify("Still reading the record…", severity="warning")
        elif moved == playhead:
            if why_not:
                self.notify(why_not, title="Replay", timeout=3)
        else:
            self._go(moved)

    def _when(self, moment: datetime) -> str:
        snapshot = self.room.snapshot
        return when(moment, snapshot.release.timezone, "%H:%M:%S") if snapshot else ""

    def action_replay_step(self, events: int) -> None:
        playhead = self.playhead
        edge = "first" if events < 0 else "last"
        self._move(playhead and playhead.step(events), f"This is the record's {edge} event.")

    def action_replay_shift(self, seconds: int) -> None:
        playhead = self.playhead
        if playhead is None:
            self._move(None, "")
            return
        reel = playhead.reel
        edge = (
            f"starts at {self._when(reel.start)}"
            if seconds < 0
            else f"ends at {self._when(reel.end)}"
        )
        self._move(playhead.shift(timedelta(seconds=seconds)), f"The record {edge}.")

    def action_replay_mark(self, direction: int) -> None:
        playhead = self.playhead
        where = "after" if direction > 0 else "before"
        moment = self._when(playhead.moment) if playhead else ""
        self._move(
            playhead and playhead.to_mark(direction),
            f"No trigger change or decision {where} {moment}.",
        )

    def action_leave_replay(self) -> None:
        self.dismiss(None)

    # ---------------------------------------------------------------- read-only

    def read_only(self) -> str:
        """The sentence every action key gets here."""
        playhead = self.playhead
        moment = f" at {self._when(playhead.moment)}" if playhead else ""
        return (
            f"replay is read-only: this is the room as it was{moment}; "
            "esc goes back to the live room to act"
        )

    @staticmethod
    def changes_something(spec: Spec) -> bool:
        """Every command, and the demo's fault (it changes what the services
        answer). Moving the view and reading (the report) work here as in the
        live room."""
        return spec.build is not None or spec.name == "inject_fault"

    @classmethod
    def in_footer(cls, spec: Spec, key: Key) -> bool:
        # The footer keeps to what works here: with every action key greyed
        # in it, the replay's own keys pushed `? Help` off a 160-column screen.
        # The keys stay bound (pressed, they say why not), and help and the
        # palette list them greyed.
        return key.show and not cls.changes_something(spec)

    def may_refuse(self, spec: Spec) -> bool:
        return self.changes_something(spec)

    def refusal_for(self, spec: Spec) -> str | None:
        return self.read_only() if self.may_refuse(spec) else super().refusal_for(spec)

    def act(self, name: str, pointed: str | None = None, text: str | None = None) -> None:
        spec = self.spec_named(name)
        if spec is not None and self.may_refuse(spec):
            self._not_allowed(self.read_only())
            return
        super().act(name, pointed, text)

    def action_inject_fault(self) -> None:
        self._not_allowed(self.read_only())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_replay":
            # esc unzooms a zoomed pane first, as in the live room (and the help).
            return self.maximized is None
        allowed = super().check_action(action, parameters)
        spec = self.spec_named(action)
        if allowed is not False and spec is not None and self.may_refuse(spec):
            return None  # greyed, and answers with the sentence (ActingScreen.on_key)
        return allowed

    # ---------------------------------------------------------------- the dashboard's hooks

    def show_snapshot(
        self, snapshot: ReleaseSnapshot | None, topics: frozenset[str] | None = None
    ) -> None:
        """A fresh read of the live room (the app hands it to every screen):
        not what a replay shows, but something newly firing there is news."""
        if snapshot is None:
            return
        firing = {t.id for t in unacknowledged(snapshot)}
        seen, self._live_firing = self._live_firing, firing
        if seen is None:
            return  # the first live read: what fires already is not news
        for trigger_id in sorted(firing - seen):
            self.notify(
                f"Live: {trigger_id} is firing now; esc goes back to the live room.",
                title="Trigger firing",
                severity="error",
                timeout=10,
            )  # (the live room below rings the bell)

    def presence_changed(self) -> None:
        """Who is in the room now is not part of a replay."""

    def connection_changed(self) -> None:
        """Nor is whether the database answers now: the record is already read."""

    def _catch_up(self) -> None:
        playhead = self.playhead
        if playhead is not None:
            self._go(playhead)

    def _tick(self) -> None:
        """Time stands still in a replay: only its keys move it."""

    def _ring(self) -> None:
        """Stepping onto a trigger firing is history, not news: no bell."""

    def _show_header(self, snapshot: ReleaseSnapshot | None) -> None:
        playhead = self.playhead
        header = self._header
        if playhead is not None and isinstance(header, ReplayHeader):
            event = playhead.event
            header.place(playhead.count, playhead.total, describe(event) if event else "")
        super()._show_header(snapshot)

    def _show_poller(self, snapshot: ReleaseSnapshot, now: datetime) -> None:
        pane = self.query_one("#pane-deploys")
        subtitle = "health as recorded: its turns between passing and failing"
        if pane.border_subtitle != subtitle:
            pane.border_subtitle = subtitle

    def _service_screen(self, service: str) -> Screen[None]:
        from warroom.tui.screens.service import ServiceScreen

        playhead = self.room.playhead
        return ServiceScreen(
            service, fixed=self.room.snapshot, at=playhead.moment if playhead else None
        )
