"""The change feed: every terminal learns of every committed change, fast.

Writers call `record_change` inside their transaction (after taking the
audit-head lock, so change ids commit in order). Readers follow a feed:

- SQLite: a dedicated connection polls `PRAGMA data_version`, which moves
  whenever another connection (in any process) commits; only then does it
  read the `change` rows after the last one it saw.
- PostgreSQL: a dedicated async psycopg connection LISTENs on
  `warroom_changes`; the NOTIFY is sent in the writer's transaction, so it
  arrives on commit, and carries just the change id. After a dropped
  connection the feed reconnects, LISTENs again and catches up from the
  change table, so nothing is missed.

Both yield `FeedEvent`s: a batch of changes, or a change of connection state.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, text
from sqlalchemy.engine import URL

from warroom.store import tables as t
from warroom.store.engine import normalise_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CHANNEL = "warroom_changes"
KEEP_CHANGES = 5000  # rows kept; a reader further behind than this reloads everything
PRUNE_EVERY = 500


def record_change(
    session: Session, release_id: int | None, at: datetime, topics: Iterable[str]
) -> int:
    """Log a change in the caller's transaction and, on PostgreSQL, NOTIFY on commit.

    Call it while holding the audit-head lock (every command does), so that
    change ids become visible in id order.
    """
    change_id = int(
        session.execute(
            insert(t.change)
            .values(release_id=release_id, at=at, topics=",".join(sorted(set(topics))))
            .returning(t.change.c.id)
        ).scalar_one()
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :id)"), {"channel": CHANNEL, "id": str(change_id)}
        )
    if change_id % PRUNE_EVERY == 0:
        session.execute(
            text("DELETE FROM change WHERE id <= :cut"), {"cut": change_id - KEEP_CHANGES}
        )
    return change_id


@dataclass(frozen=True)
class Change:
    id: int
    release_id: int | None
    topics: frozenset[str]


@dataclass(frozen=True)
class FeedEvent:
    """What a feed reports: changes, or that the connection went or came back.

    `resync` means the reader may have missed changes (it was away longer
    than the change log keeps them, or it just reconnected to a new
    database): reload everything.
    """

    changes: tuple[Change, ...] = ()
    connected: bool = True
    error: str | None = None
    resync: bool = False
    # True when the event reports a new connection state (it may carry the
    # changes caught up on reconnecting too).
    status: bool = False

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(topic for change in self.changes for topic in change.topics)


def _changes(rows: Iterable[tuple[Any, ...]]) -> tuple[Change, ...]:
    return tuple(
        Change(int(row[0]), row[1], frozenset(t for t in str(row[2]).split(",") if t))
        for row in rows
    )


@dataclass
class _Cursor:
    """Where a reader is in the change log."""

    last: int | None = None

    def advance(self, changes: tuple[Change, ...]) -> None:
        if changes:
            self.last = changes[-1].id


class ChangeFeed:
    """Follow one database's changes. `events()` runs until cancelled."""

    def __init__(self, poll_interval: float = 0.05, retry_interval: float = 1.0) -> None:
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.cursor = _Cursor()

    def events(self) -> AsyncGenerator[FeedEvent, None]:
        raise NotImplementedError


# ---------------------------------------------------------------- SQLite


class SqliteFeed(ChangeFeed):
    def __init__(self, path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise sqlite3.OperationalError(f"no database file at {self.path}")
        conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")  # the watcher never writes
        return conn

    def _poll(self) -> tuple[tuple[Change, ...], bool]:
        """One look: (new changes, whether we had to resync). Runs in a thread."""
        resync = False
        if self._conn is None:
            self._conn = self._connect()
            self._version = None
            resync = self.cursor.last is not None  # we were away: catch up or reload
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._version:
            return (), False
        self._version = version
        if self.cursor.last is None:
            row = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM change").fetchone()
            self.cursor.last = int(row[0])
            return (), False
        first = self._conn.execute("SELECT MIN(id) FROM change").fetchone()[0]
        if first is not None and int(first) > self.cursor.last + 1:
            resync = True  # pruned past us
        rows = self._conn.execute(
            "SELECT id, release_id, topics FROM change WHERE id > ? ORDER BY id",
            (self.cursor.last,),
        ).fetchall()
        changes = _changes(rows)
        self.cursor.advance(changes)
        return changes, resync

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _watch(self, emit: Callable[[FeedEvent], None], stop: threading.Event) -> None:
        """The watcher thread: look every `poll_interval`, emit what it finds.

        A plain thread rather than a task per look: twenty looks a second cost
        a few thread wake-ups, not twenty round trips through the event loop.
        """
        connected: bool | None = None
        try:
            while not stop.is_set():
                try:
                    changes, resync = self._poll()
                except sqlite3.Error as exc:
                    self._close()
                    if connected is not False:
                        connected = False
                        emit(
                            FeedEvent(
                                connected=False,
                                error=f"the database is unreachable: {exc}",
                                status=True,
                            )
                        )
                    stop.wait(self.retry_interval)
                    continue
                if connected is not True:
                    resync = resync or connected is False
                    connected = True
                    emit(FeedEvent(connected=True, resync=resync, changes=changes, status=True))
                elif changes or resync:
                    emit(FeedEvent(changes=changes, resync=resync))
                stop.wait(self.poll_interval)
        finally:
            self._close()

    async def events(self) -> AsyncGenerator[FeedEvent, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[FeedEvent] = asyncio.Queue()
        stop = threading.Event()

        def emit(event: FeedEvent) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:
                # The loop closed without closing this generator (an app torn
                # down mid-read): nobody listens any more, so stop watching.
                stop.set()

        thread = threading.Thread(
            target=self._watch, args=(emit, stop), name="warroom-feed", daemon=True
        )
        thread.start()
        try:
            while True:
                yield await queue.get()
        finally:
            stop.set()


# ---------------------------------------------------------------- PostgreSQL


class PostgresFeed(ChangeFeed):
    def __init__(self, url: URL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _fetch(self, conn: Any) -> tuple[tuple[Change, ...], bool]:
        resync = False
        async with conn.cursor() as cur:
            if self.cursor.last is None:
                await cur.execute("SELECT COALESCE(MAX(id), 0) FROM change")
                row = await cur.fetchone()
                self.cursor.last = int(row[0])
                return (), False
            await cur.execute("SELECT MIN(id) FROM change")
            first = (await cur.fetchone())[0]
            if first is not None and int(first) > self.cursor.last + 1:
                resync = True
            await cur.execute(
                "SELECT id, release_id, topics FROM change WHERE id > %s ORDER BY id",
                (self.cursor.last,),
            )
            changes = _changes(await cur.fetchall())
        self.cursor.advance(changes)
        return changes, resync

    async def events(self) -> AsyncGenerator[FeedEvent, None]:
        import psycopg

        connected: bool | None = None
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=5
                )
            except psycopg.Error as exc:
                if connected is not False:
                    connected = False
                    yield FeedEvent(
                        connected=False, error=f"the database is unreachable: {_first_line(exc)}"
                    )
                await asyncio.sleep(self.retry_interval)
                continue
            try:
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # LISTEN first, then catch up: nothing committed in between is lost.
                    changes, resync = await self._fetch(conn)
                    was_away = connected is False
                    connected = True
                    yield FeedEvent(
                        connected=True, changes=changes, resync=resync or was_away, status=True
                    )
                    while True:
                        # The timeout doubles as a heartbeat: a dead server is
                        # noticed within about a second even if no NOTIFY comes.
                        async for _notify in conn.notifies(timeout=1.0, stop_after=1):
                            break
                        changes, resync = await self._fetch(conn)
                        if changes or resync:
                            yield FeedEvent(changes=changes, resync=resync)
            except psycopg.Error as exc:
                connected = False
                yield FeedEvent(
                    connected=False, error=f"lost the database: {_first_line(exc)}", status=True
                )
                await asyncio.sleep(self.retry_interval)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def open_feed(db_url: str, **kwargs: Any) -> ChangeFeed:
    """The feed for a database URL (SQLite file or PostgreSQL)."""
    url = normalise_url(db_url)
    if url.get_backend_name() == "sqlite":
        assert url.database, "an in-memory SQLite database has no other readers to tell"
        return SqliteFeed(Path(url.database), **kwargs)
    return PostgresFeed(url, **kwargs)


@dataclass
class Coalescer:
    """Topics waiting for the next reload while one is running."""

    pending: set[str] = field(default_factory=set)
    everything: bool = False

    def add(self, event: FeedEvent) -> None:
        self.pending |= event.topics
        self.everything = self.everything or event.resync

    def take(self) -> tuple[frozenset[str], bool]:
        topics, everything = frozenset(self.pending), self.everything
        self.pending.clear()
        self.everything = False
        return topics, everything
