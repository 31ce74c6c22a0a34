"""The war-room app: data in from the store, actions out through the command layer.

The app owns no state of its own beyond the last `ReleaseSnapshot` it read.
Every read and every command runs in a thread worker; results come back as
Messages and the dashboard updates only the panes whose data changed. The
change feed (store/feed.py) says when something was committed anywhere and
what it touched; a heartbeat row says who else is in the room.

A session of `warroom serve-ssh` (`config.room_fd`) reads nothing itself:
the server reads once per change for all its sessions and hands each app
what changed (store/relay.py); the app shows it the same way. It still
writes through the command layer and beats its own heartbeat.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from warroom import collector
from warroom.commands import defs as d
from warroom.domain.record import History
from warroom.domain.snapshot import PersonView, Present, ReleaseSnapshot
from warroom.domain.text import safe
from warroom.resources import stylesheet
from warroom.store import reading
from warroom.store.reading import LOG_LIMIT, Coalescer, Store, StoreError, relay
from warroom.tui.room import AppConfig, Room
from warroom.tui.screens.acting import ActingScreen
from warroom.tui.screens.live import LiveScreen

__all__ = ["AppConfig", "WarroomApp", "create_app"]


SETTLE_AFTER = 0.5  # seconds after the first read reaches the screen; see `_settled`


class WarroomApp(App[None]):
    CSS_PATH = str(stylesheet())
    TITLE = "warroom"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+q", "quit", "Quit", show=False),
    ]

    class SnapshotLoaded(Message):
        """A fresh read of the release (None: no release loaded)."""

        def __init__(
            self, snapshot: ReleaseSnapshot | None, revision: int, topics: frozenset[str] | None
        ) -> None:
            self.snapshot = snapshot
            self.revision = revision
            self.topics = topics  # None: everything may have changed
            super().__init__()

    class StoreFailed(Message):
        def __init__(self, reason: str) -> None:
            self.reason = reason
            super().__init__()

    class PresenceUpdated(Message):
        def __init__(self, present: list[Present]) -> None:
            self.present = present
            super().__init__()

    class CommandFinished(Message):
        def __init__(self, ok: bool, text: str) -> None:
            self.ok = ok
            self.text = text
            super().__init__()

    class ReportWritten(Message):
        """The report went to `path`, or (`error`) it could not be written."""

        def __init__(self, path: Path, error: str | None = None) -> None:
            self.path = path
            self.error = error
            super().__init__()

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        self.clock = config.clock
        self.snapshot: ReleaseSnapshot | None = None
        self.loaded = False  # a first read has arrived (the snapshot may still be None)
        self.connected = True
        self.last_error: str | None = None
        self._store: Store | None = None
        self._revision: int | None = None
        self._schema_checked = False
        self._pending = Coalescer()
        self._reloading = False
        # What the reload worker read last: the base the next read brings up
        # to date. Only the worker touches it, and one runs at a time.
        self._last_read: ReleaseSnapshot | None = None
        self.instance = uuid.uuid4().hex
        self.present: list[Present] = []
        self._presence_lock = threading.Lock()
        self._left = False
        # A serve-ssh session: the newest read the server sent that is not on
        # screen yet, and whether one is on its way there.
        self._room_news: tuple[ReleaseSnapshot | None, int, frozenset[str] | None] | None = None
        self._room_showing = False

    # ---------------------------------------------------------------- set-up

    def get_default_screen(self) -> Screen[None]:
        from warroom.tui.screens.dashboard import DashboardScreen

        return DashboardScreen.bound_to(self.config.actions)()

    def on_mount(self) -> None:
        if self.config.replay:
            # `warroom replay`: over the live room, as H opens it, so esc lands
            # in the room now; the live room starts then. Until that, the
            # record has the machine to itself, and someone reading the past
            # is not announced as in the room.
            from warroom.tui.screens.replay import ReplayScreen

            replay = ReplayScreen.bound_to(self.config.actions)(self.config.replay_at)
            self.push_screen(replay, lambda _: self._go_live())
            return
        self._go_live()

    def _go_live(self) -> None:
        """Read the room, follow the change feed, and say we are here."""
        if self.config.room_fd is not None:
            self._follow_room(self.config.room_fd)
        else:
            self.refresh_now()
            self._follow()
        self._heartbeat()
        self.set_interval(self.config.heartbeat_interval, self._heartbeat, name="heartbeat")

    @property
    def me(self) -> PersonView | None:
        return self.snapshot.person(self.config.identity) if self.snapshot else None

    def store(self) -> Store:
        """The store, opened on first use (from a worker thread: it may touch disk)."""
        if self._store is None:
            self._store = Store(self.config.db_url)
        return self._store

    async def on_unmount(self) -> None:
        if self._store is not None:
            # Saying goodbye writes to the database: off the event loop, and
            # awaited, so the person has left before the app is gone.
            await asyncio.to_thread(self._close_store, self._store)

    def _close_store(self, store: Store) -> None:
        self._leave(store)
        store.dispose()

    # ---------------------------------------------------------------- reading
    #
    # The change feed says when and what changed; a reload reads one snapshot
    # and hands it to the panes whose topics moved. Reloads never overlap:
    # changes arriving meanwhile are coalesced into the next one.

    def refresh_now(self) -> None:
        """Re-read everything now (after our own command, at start-up)."""
        self._request_reload(None)

    def request_reload(self, topics: frozenset[str] | None) -> None:
        """Ask for a re-read of these topics (None: everything); coalesced."""
        self._request_reload(topics)

    def _request_reload(self, topics: frozenset[str] | None) -> None:
        if self.config.room_fd is not None:
            return  # the server reads after every change (and when health goes stale)
        if topics is None:
            self._pending.everything = True
        else:
            self._pending.pending |= topics
        if not self._reloading:
            self._start_reload()

    def _start_reload(self) -> None:
        topics, everything = self._pending.take()
        self._reloading = True
        self._reload_worker(None if everything else topics)

    @work(thread=True, group="reload", exit_on_error=False)
    def _reload_worker(self, topics: frozenset[str] | None) -> None:
        store = self.store()
        if not self._schema_checked:
            reading.ensure_schema(store)
            self._schema_checked = True
        try:
            with store.rows() as session:
                snapshot, revision = reading.read_room(
                    session,
                    self.config.release,
                    self._last_read,
                    topics,
                    LOG_LIMIT,
                    self.clock.now(),
                )
        except BaseException:
            self._last_read = None  # read everything next time
            raise
        self._last_read = snapshot
        self.post_message(self.SnapshotLoaded(snapshot, revision, topics))

    @work(group="feed", exclusive=True, exit_on_error=False)
    async def _follow(self) -> None:
        """Follow the change feed for as long as the app runs."""
        feed = reading.open_feed(self.config.db_url, poll_interval=self.config.poll_interval)
        async for event in feed.events():
            if not event.connected:
                self.post_message(self.StoreFailed(event.error or "the database is unreachable"))
            elif event.resync or not self.connected:
                self._request_reload(None)
            elif event.changes:
                self._request_reload(event.topics)
                if "presence" in event.topics:
                    self._heartbeat()  # someone came or went over SSH: show it now

    @work(group="feed", exclusive=True, exit_on_error=False)
    async def _follow_room(self, fd: int) -> None:
        """Show what the SSH server reads for its sessions, for as long as the app runs.

        Frames are read as they come (a change's frame is small) and only
        the newest is shown: frames that arrive while one is on its way to
        the screen are folded into the next, their topics together. An app
        that stops reading altogether (stopped, or stuck writing to a frozen
        terminal) fills its socket; the server then sends it the newest whole
        snapshot once it reads again, instead of queueing (ssh/relay.py).
        """
        sock = socket.socket(fileno=fd)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        base: ReleaseSnapshot | None = None
        try:
            while True:
                try:
                    (length,) = relay.HEADER.unpack(await reader.readexactly(relay.HEADER.size))
                    if length > relay.MAX_FRAME:
                        raise ValueError(f"a frame of {length} bytes")
                    frame = relay.decode(await reader.readexactly(length))
                except (asyncio.IncompleteReadError, OSError, ValueError) as exc:
                    why = "it stopped" if isinstance(exc, asyncio.IncompleteReadError) else exc
                    self.post_message(self.StoreFailed(f"lost the war room's SSH server ({why})"))
                    return
                if isinstance(frame, relay.Failed):
                    self._room_news = None  # read before the failure: the next read is whole
                    self.post_message(self.StoreFailed(frame.reason))
                    continue
                base = relay.apply(base, frame)
                topics = frame.topics
                if self._room_news is not None:
                    earlier = self._room_news[2]
                    topics = None if topics is None or earlier is None else topics | earlier
                self._room_news = (base, frame.revision, topics)
                self._show_room_news()
                if frame.topics is not None and "presence" in frame.topics:
                    self._heartbeat()  # someone came or went over SSH: show it now
        finally:
            writer.close()

    def _show_room_news(self) -> None:
        if self._room_showing or self._room_news is None:
            return
        snapshot, revision, topics = self._room_news
        self._room_news = None
        self._room_showing = True
        self.post_message(self.SnapshotLoaded(snapshot, revision, topics))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "reload" and event.state in {WorkerState.SUCCESS, WorkerState.ERROR}:
            self._reloading = False
            if event.state is WorkerState.ERROR:
                error = worker.error
                reason = (
                    str(error)
                    if isinstance(error, StoreError)
                    else f"{type(error).__name__}: {error}"
                )
                self.post_message(self.StoreFailed(reason))
                # Try again by ourselves; the feed may not notice (say, a file gone missing).
                self.set_timer(self.config.retry_interval, lambda: self._request_reload(None))
            elif self._pending.pending or self._pending.everything:
                self._start_reload()
        elif event.state is WorkerState.ERROR and worker.group == "presence":
            pass  # a missed heartbeat during an outage: the header already says so
        elif event.state is WorkerState.ERROR:
            # Nothing dies silently: any other worker failure reaches the user.
            self.notify(
                f"{worker.name or worker.group} failed: {worker.error}",
                severity="error",
                timeout=10,
            )

    def on_warroom_app_store_failed(self, message: StoreFailed) -> None:
        first = self.connected
        self.connected = False
        if self.config.owns_process and not self.loaded:
            collector.resume()  # no first frame to wait for: retrying may take all day
        self.last_error = message.reason
        self._connection_changed()
        if first:
            self.notify(
                f"{message.reason} — retrying", title="Disconnected", severity="error", timeout=6
            )

    def _live_screens(self) -> list[LiveScreen]:
        if not self.is_running:
            # Quitting: the screens are being taken apart, pane by pane, while
            # reads still arrive (a query for a pane already gone would raise).
            return []
        return [s for s in self.screen_stack if s.is_mounted and isinstance(s, LiveScreen)]

    def _connection_changed(self) -> None:
        for screen in self._live_screens():
            screen.connection_changed()

    def on_warroom_app_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        if not self.connected:
            self.connected = True
            self.last_error = None
            self.notify("The database is reachable again", title="Reconnected")
            self._connection_changed()
        self._revision = message.revision
        self.snapshot = message.snapshot
        if not self.loaded and self.config.owns_process:
            # Once the first frame is painted (the table lays itself out when
            # idle, a refresh or two after this): the collection in
            # `_settled` walks the whole start-up heap, 0.1-0.2 s that nobody
            # should wait for before seeing the room.
            self.set_timer(SETTLE_AFTER, self._settled, name="settle")
        self.loaded = True
        # Every screen on the stack that shows release data follows along (the
        # dashboard under a dialog too); one still mounting pulls the snapshot
        # itself in its on_mount.
        for screen in self._live_screens():
            screen.show_snapshot(message.snapshot, message.topics)
        if self.config.room_fd is not None:
            self._room_showing = False
            self._show_room_news()

    def _settled(self) -> None:
        """The first read is on screen: what exists now lives as long as the app.

        Moved out of the collector's sight, the ~180,000 objects of a drawn
        room are not walked again by every full collection, each of which
        otherwise stalled the app for 50-150 ms at an unpredictable change
        (the tail of change -> visible when fifty apps share two cores).
        Garbage first, so that none of it is kept for good. The `warroom`
        program started with the collector off (warroom/collector.py): it
        comes back on here.

        The command layer (the ORM and the model classes, ~0.2 s) is not
        needed for the first frame; it is imported now, before the heap is
        frozen, so the first key that acts does not wait for it.
        """
        self._prepare_commands()

    @work(thread=True, group="settle", exit_on_error=False)
    def _prepare_commands(self) -> None:
        import warroom.commands.execute  # noqa: F401

        self.call_from_thread(collector.settle)

    def read_history(self) -> History | None:
        store = self.store()
        with store.rows() as session:
            release = reading.current_release(session, self.config.release)
            return reading.read_history(session, release) if release else None

    # ---------------------------------------------------------------- presence

    @work(thread=True, group="presence", exclusive=True, exit_on_error=False)
    def _heartbeat(self) -> None:
        store = self.store()
        now = self.clock.now()
        snapshot = self.snapshot
        release_id = snapshot.release_id if snapshot else None
        # A beat still in flight when the app quits must not land after the
        # leave (it would keep a person "in the room" who has gone).
        with self._presence_lock:
            if self._left:
                return
            with store.rows(write=True) as session:
                reading.beat(
                    session,
                    instance=self.instance,
                    release_id=release_id,
                    person=self.config.identity,
                    via=self.config.via,
                    now=now,
                )
        with store.rows() as session:
            here = reading.present(session, release_id, now)
        self.post_message(self.PresenceUpdated(here))

    def on_warroom_app_presence_updated(self, message: PresenceUpdated) -> None:
        self.present = message.present
        for screen in self._live_screens():
            screen.presence_changed()

    def _leave(self, store: Store) -> None:
        with self._presence_lock:
            self._left = True
            try:
                with store.rows(write=True) as session:
                    reading.leave(session, self.instance)
            except StoreError:
                pass  # the row expires by itself

    # ---------------------------------------------------------------- acting

    def run_command(self, command: d.Command[str]) -> None:
        """Run `command` as the app's person, off the event loop; the answer is a toast."""
        if not self.connected:
            self.notify(
                f"Not sent: the database is unreachable ({self.last_error}). Try again once reconnected.",
                severity="error",
            )
            return
        self._command_worker(command)

    @work(thread=True, group="commands", exit_on_error=False)
    def _command_worker(self, command: d.Command[str]) -> None:
        # Imported here, not at the top: the first frame does not wait for the
        # ORM (`_prepare_commands` has usually imported it by now).
        from warroom.commands.execute import execute
        from warroom.commands.tx import CommandError

        config = self.config
        try:
            text = execute(self.store(), self.clock, command, config.identity, config.release)
        except CommandError as exc:
            self.post_message(self.CommandFinished(False, str(exc)))
            return
        except StoreError as exc:
            self.post_message(self.CommandFinished(False, f"Not done: {exc}"))
            return
        self.post_message(self.CommandFinished(True, text))

    def on_warroom_app_command_finished(self, message: CommandFinished) -> None:
        if message.ok:
            self.notify(message.text, timeout=3)
            self.refresh_now()
        else:
            self.notify(message.text, title="Refused", severity="error", timeout=8)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast, from any screen: plain text through the sanitiser.

        Toasts quote names, reasons and refusals that people and plans wrote,
        so they are never markup (a `[` in a reason is text, not a crash).
        """
        super().notify(
            safe(message, newlines=True),
            title=safe(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    # ---------------------------------------------------------------- the report

    def report_path(self, release: str) -> Path:
        """`config.report_to`, else beside a SQLite database's file, else in the current folder."""
        from warroom.reporting import file_name

        if self.config.report_to is not None:
            return self.config.report_to
        url = reading.normalise_url(self.config.db_url)
        folder = Path.cwd()
        if url.get_backend_name() == "sqlite" and url.database not in {None, "", ":memory:"}:
            folder = Path(str(url.database)).expanduser().absolute().parent
        return folder / file_name(release)

    def write_report(self, path: Path) -> None:
        """Write the report to `path` in a thread worker; a toast says where, or why not."""
        self._report_worker(path)

    @work(thread=True, group="report", exit_on_error=False)
    def _report_worker(self, path: Path) -> None:
        from warroom.domain.report import build_report
        from warroom.reporting import render, save

        try:
            # One read transaction: the plan, every event and the log agree.
            with self.store().rows() as session:
                release = reading.current_release(session, self.config.release)
                if release is None:
                    self.post_message(self.ReportWritten(path, "no release is loaded"))
                    return
                history = reading.read_history(session, release)
            text = render(build_report(history, self.clock.now()), "md")
            written = save(path, text)
        except StoreError as exc:
            self.post_message(self.ReportWritten(path, str(exc)))
            return
        except OSError as exc:
            self.post_message(self.ReportWritten(path, exc.strerror or str(exc)))
            return
        self.post_message(self.ReportWritten(written))

    def on_warroom_app_report_written(self, message: ReportWritten) -> None:
        if message.error is None:
            self.notify(f"Report written to {message.path}", title="Report", timeout=10)
        else:
            self.notify(
                f"The report was not written to {message.path}: {message.error}",
                title="Report",
                severity="error",
                timeout=10,
            )

    # ---------------------------------------------------------------- palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, ActingScreen):
            yield from screen.palette_commands()

    def action_help(self) -> None:
        from warroom.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.config.actions))


if TYPE_CHECKING:

    def _a_room(app: WarroomApp) -> Room:
        return app  # mypy checks here that the app is what its screens take it for


def create_app(config: AppConfig) -> WarroomApp:
    """The one way to build the app (CLI, demo, SSH sessions and tests)."""
    return WarroomApp(config)
