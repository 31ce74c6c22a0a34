"""What the screens know of the app: its settings, its last read, and a way to act.

Screens and dialogs reach the app through `Room` (the app implements it, and
mypy checks that in tui/app.py), so they need not import the app module,
which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, cast

from textual.app import App

from warroom.clock import Clock, SystemClock
from warroom.commands import defs as d
from warroom.commands.catalog import ACTIONS, Spec
from warroom.domain.record import History
from warroom.domain.snapshot import PersonView, Present, ReleaseSnapshot
from warroom.store.reading import LOG_LIMIT, Store

__all__ = ["LOG_LIMIT", "AppConfig", "Room", "room"]


@dataclass
class AppConfig:
    """Everything the app needs; the CLI, `warroom demo`, SSH and tests build one."""

    db_url: str
    identity: str
    clock: Clock = field(default_factory=SystemClock)
    # How to name the database to people (default: the URL, password hidden).
    db_label: str | None = None
    release: str | None = None
    poll_interval: float = 0.05  # SQLite change feed: how often to look at data_version
    retry_interval: float = 1.0
    heartbeat_interval: float = 5.0
    via: str = "terminal"  # or "ssh": shown next to the name in everyone's header
    # `warroom demo`: the simulator's control API, for injecting faults (F).
    simulator_url: str | None = None
    # Where W offers to write the report (None: beside a SQLite database's
    # file, else in the current folder; `warroom demo` keeps it out of its
    # temporary folder).
    report_to: Path | None = None
    # The actions people take: the dashboard's keys, the palette and the help
    # screen are made from this table (tests add a row to it).
    actions: tuple[Spec, ...] = ACTIONS
    # `warroom replay`: open on a replay of the day (over the live room, which
    # esc returns to), at `replay_at` (None: the end of the record).
    replay: bool = False
    replay_at: datetime | None = None
    # A session of `warroom serve-ssh`: the file descriptor of the socket the
    # server hands this app each read of the room on (store/relay.py). The app
    # then follows no change feed and reads no snapshot of its own.
    room_fd: int | None = None
    # The app is the process (the command line, an SSH session): once its first
    # read is drawn, it may take its objects out of the garbage collector's
    # walks (gc.freeze), which is process-wide. Tests and embedders leave it off.
    owns_process: bool = False


class Room(Protocol):
    """The app, as its screens use it."""

    @property
    def config(self) -> AppConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def snapshot(self) -> ReleaseSnapshot | None:
        """The newest read (None: no release is loaded, or nothing read yet)."""

    @property
    def loaded(self) -> bool:
        """A first read has arrived (the snapshot may still be None)."""

    @property
    def connected(self) -> bool: ...

    @property
    def last_error(self) -> str | None: ...

    @property
    def present(self) -> list[Present]:
        """Who else is in the room."""

    @property
    def me(self) -> PersonView | None:
        """The viewer, if they are a person in the release read last."""

    def request_reload(self, topics: frozenset[str] | None) -> None:
        """Read these topics again (None: everything)."""

    def store(self) -> Store:
        """The store, for a screen's own reads (in a thread worker: it may touch disk)."""

    def run_command(self, command: d.Command[str]) -> None:
        """Run `command` as the viewer, off the event loop; the answer comes as a toast."""

    def read_history(self) -> History | None:
        """The release's whole record (None: no release is loaded). Reads every
        audit event: call it from a worker thread, never the event loop."""

    def report_path(self, release: str) -> Path:
        """Where the report of `release` goes unless the viewer says otherwise."""

    def write_report(self, path: Path) -> None:
        """Write the release's report (Markdown) to `path`, off the event loop; a toast says where."""


def room(app: App[Any]) -> Room:
    """The app a warroom screen is mounted in."""
    return cast(Room, app)
