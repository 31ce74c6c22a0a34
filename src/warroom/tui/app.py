"""The war-room app: data in from the store, actions out through the command layer.

The app owns no state of its own beyond the last `ReleaseSnapshot` it read.
Every read and every command runs in a thread worker; results come back as
Messages and the dashboard updates its panes in place. The store is polled
for its audit revision (one tiny query) and re-read only when it moved; the
next poll is scheduled when the previous one finished, so a slow database
never piles up work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from warroom.clock import Clock, SystemClock
from warroom.commands import CommandError, Commands
from warroom.domain.snapshot import PersonView, ReleaseSnapshot
from warroom.resources import stylesheet
from warroom.store.engine import Store, StoreError
from warroom.store.migrate import ensure_schema
from warroom.store.queries import audit_revision, current_release, load_snapshot

LOG_LIMIT = 2000  # lines of the communication log kept on screen


@dataclass
class AppConfig:
    """Everything the app needs; the CLI, `warroom demo`, SSH and tests build one."""

    db_url: str
    identity: str
    clock: Clock = field(default_factory=SystemClock)
    # How to name the database to people (default: the URL, password hidden).
    db_label: str | None = None
    release: str | None = None
    poll_interval: float = 1.0
    retry_interval: float = 2.0


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

        def __init__(self, snapshot: ReleaseSnapshot | None, revision: int) -> None:
            self.snapshot = snapshot
            self.revision = revision
            super().__init__()

    class StoreFailed(Message):
        def __init__(self, reason: str) -> None:
            self.reason = reason
            super().__init__()

    class CommandFinished(Message):
        def __init__(self, ok: bool, text: str) -> None:
            self.ok = ok
            self.text = text
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
        self._poll_timer: Timer | None = None

    # ---------------------------------------------------------------- set-up

    def get_default_screen(self) -> Screen[None]:
        from warroom.tui.screens.dashboard import DashboardScreen

        return DashboardScreen()

    def on_mount(self) -> None:
        self.refresh_now()

    @property
    def me(self) -> PersonView | None:
        return self.snapshot.person(self.config.identity) if self.snapshot else None

    def store(self) -> Store:
        """The store, opened on first use (from a worker thread: it may touch disk)."""
        if self._store is None:
            self._store = Store(self.config.db_url)
        return self._store

    def on_unmount(self) -> None:
        if self._store is not None:
            self._store.dispose()

    # ---------------------------------------------------------------- reading

    def refresh_now(self) -> None:
        """Re-read the release now, whatever the revision says."""
        self._revision = None
        self._schedule_poll(0)

    def _schedule_poll(self, delay: float) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        if delay <= 0:
            self.call_later(self._poll)
        else:
            self._poll_timer = self.set_timer(delay, self._poll, name="store-poll")

    def _poll(self) -> None:
        self._poll_worker(self._revision)

    @work(thread=True, exclusive=True, group="store-poll", exit_on_error=False)
    def _poll_worker(self, seen: int | None) -> None:
        store = self.store()
        ensure_schema(store)
        with store.read() as session:
            revision = audit_revision(session)
            if revision == seen:
                return
            release = current_release(session, self.config.release)
            snapshot = load_snapshot(session, release, LOG_LIMIT) if release else None
        if not get_current_worker().is_cancelled:
            self.post_message(self.SnapshotLoaded(snapshot, revision))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "store-poll":
            if event.state is WorkerState.SUCCESS:
                if not self.connected:
                    self.connected = True
                    self.last_error = None
                    self.notify("Database reachable again", title="Reconnected")
                    self._connection_changed()
                self._schedule_poll(self.config.poll_interval)
            elif event.state is WorkerState.ERROR:
                error = worker.error
                reason = (
                    str(error)
                    if isinstance(error, StoreError)
                    else f"{type(error).__name__}: {error}"
                )
                self.post_message(self.StoreFailed(reason))
                self._schedule_poll(self.config.retry_interval)
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
        self.last_error = message.reason
        self._connection_changed()
        if first:
            self.notify(
                f"{message.reason} — retrying", title="Disconnected", severity="error", timeout=6
            )

    def _connection_changed(self) -> None:
        screen = self.screen_stack[0] if self.screen_stack else None
        if screen is not None and screen.is_mounted and hasattr(screen, "connection_changed"):
            screen.connection_changed()

    def on_warroom_app_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        self._revision = message.revision
        self.snapshot = message.snapshot
        self.loaded = True
        # Every screen on the stack that shows release data follows along (the
        # dashboard under a dialog too); one still mounting pulls the snapshot
        # itself in its on_mount.
        for screen in self.screen_stack:
            if screen.is_mounted and hasattr(screen, "show_snapshot"):
                screen.show_snapshot(message.snapshot)

    # ---------------------------------------------------------------- acting

    def run_command(self, action: Callable[[Commands], str]) -> None:
        """Run one command as the app's person, off the event loop."""
        if not self.connected:
            self.notify(
                f"Not sent: the database is unreachable ({self.last_error}). Try again once reconnected.",
                severity="error",
            )
            return
        self._command_worker(action)

    @work(thread=True, group="commands", exit_on_error=False)
    def _command_worker(self, action: Callable[[Commands], str]) -> None:
        commands = Commands(self.store(), self.clock, self.config.identity, self.config.release)
        try:
            text = action(commands)
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

    # ---------------------------------------------------------------- palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        provider = getattr(screen, "palette_commands", None)
        if provider is not None:
            yield from provider()

    def action_help(self) -> None:
        from warroom.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def create_app(config: AppConfig) -> WarroomApp:
    """The one way to build the app (CLI, demo, SSH sessions and tests)."""
    return WarroomApp(config)
