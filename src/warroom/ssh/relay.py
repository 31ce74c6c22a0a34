"""The room's one reader: `warroom serve-ssh` reads for all its sessions at once.

Fifty apps that each follow the change feed and re-read the snapshot after
every change spend fifty times the CPU on the same read. Here the server
follows the feed once, reads once per change (in a thread, one read at a
time, changes arriving meanwhile coalesced into the next), and hands each
session's app what changed over a socket of its own (the frames of
store/relay.py). Apps still write through the command layer themselves and
beat their own presence heartbeat.

- A new session gets the whole current snapshot at once.
- A slow session never holds up the others: each has an `Outlet` holding at
  most the frame being written and one waiting. When another comes while
  one waits, the waiting one is dropped and the newest whole snapshot takes
  its place ("latest wins"): memory stays bounded however far behind it is.
- When the database cannot be read, every session is told (a `Failed`
  frame: its header says "disconnected — retrying"); the reader retries by
  itself and the first read that works reconnects everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass

from warroom.clock import Clock
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.store import reading
from warroom.store.engine import Store, StoreError
from warroom.store.feed import Coalescer
from warroom.store.relay import Failed, delta, encode, whole

HEALTH_CHECK_S = 1.0  # health goes stale by the clock alone: look this often
# The kernel's buffer per session: a few changes' worth. Past it the session
# is behind, and its waiting frame is replaced by the newest whole snapshot.
SEND_BUFFER = 32 * 1024  # (the kernel doubles it)


@dataclass
class Read:
    """One read of the room, encoded once for everyone (the whole lazily)."""

    snapshot: ReleaseSnapshot | None
    revision: int
    delta: bytes
    _whole: bytes | None = None

    def whole(self) -> bytes:
        if self._whole is None:
            self._whole = encode(whole(self.snapshot, self.revision))
        return self._whole


class Outlet:
    """One session's socket: the frame being written and at most one waiting."""

    def __init__(self, sock: socket.socket, on_gone: Callable[[Outlet], None]) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._on_gone = on_gone
        self._loop = asyncio.get_running_loop()
        self._out: memoryview | None = None
        self._waiting: bytes | None = None
        # Whether what is queued brings the app to the reader's newest read,
        # so that a delta to it may follow.
        self.current = False
        self._writing = False
        self.closed = False
        self.dropped = 0  # frames replaced by a newer whole snapshot

    def send_read(self, read: Read, first: bool = False) -> None:
        if self.closed:
            return
        if first or not self.current or self._waiting is not None:
            if self._waiting is not None:
                self.dropped += 1
            self._waiting = read.whole()
        else:
            self._waiting = read.delta
        self.current = True
        self._flush()

    def send_failure(self, frame: bytes) -> None:
        if self.closed:
            return
        if self._waiting is not None:
            self.dropped += 1
            self.current = False  # a read it will never see: the next must be whole
        self._waiting = frame
        self._flush()

    def _flush(self) -> None:
        while True:
            if self._out is None or not len(self._out):
                if self._waiting is None:
                    self._out = None
                    self._stop_writing()
                    return
                self._out, self._waiting = memoryview(self._waiting), None
            try:
                sent = self.sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                self._start_writing()
                return
            except OSError:
                self.close()
                return
            self._out = self._out[sent:]

    def _start_writing(self) -> None:
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self.sock.fileno(), self._flush)

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        if self.closed:
            return
        self._stop_writing()
        self.closed = True
        self._out = self._waiting = None
        with contextlib.suppress(OSError):
            self.sock.close()
        self._on_gone(self)


class RoomReader:
    """Follows the change feed once, reads once per change, hands it to every outlet."""

    def __init__(
        self,
        db_url: str,
        store: Store,
        clock: Clock,
        release: str | None,
        log: Callable[[str], None],
        *,
        poll_interval: float = 0.05,
        retry_interval: float = 1.0,
    ) -> None:
        self.db_url = db_url
        self.store = store
        self.clock = clock
        self.release = release
        self.log = log
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.outlets: set[Outlet] = set()
        self.last: Read | None = None
        self.failure: bytes | None = None  # the database cannot be read: why, encoded
        self.reads = 0
        self._schema_checked = False
        self._pending = Coalescer()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---------------------------------------------------------------- sessions

    def attach(self) -> tuple[Outlet, socket.socket]:
        """A new session's outlet, and the app's end of its socket (pass it to
        the app, then close it here; close the outlet when the session ends)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        outlet = Outlet(ours, self.outlets.discard)
        self.outlets.add(outlet)
        if self.last is not None:
            outlet.send_read(self.last, first=True)
        if self.failure is not None:
            outlet.send_failure(self.failure)
        return outlet, theirs

    # ---------------------------------------------------------------- running

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._request(None)
        self._tasks = [
            loop.create_task(self._follow()),
            loop.create_task(self._read_loop()),
            loop.create_task(self._watch_health()),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for outlet in list(self.outlets):
            outlet.close()

    def _request(self, topics: frozenset[str] | None) -> None:
        if topics is None:
            self._pending.everything = True
        else:
            self._pending.pending |= topics
        self._wake.set()

    async def _follow(self) -> None:
        while True:
            try:
                feed = reading.open_feed(
                    self.db_url,
                    poll_interval=self.poll_interval,
                    retry_interval=self.retry_interval,
                )
                async for event in feed.events():
                    if not event.connected:
                        self._fail(event.error or "the database is unreachable")
                    elif event.resync or self.failure is not None:
                        self._request(None)
                    elif event.changes:
                        self._request(event.topics)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: say so, and follow again
                self.log(f"error: the room's change feed failed: {type(exc).__name__}: {exc}")
                self._fail(f"the server's reader failed ({type(exc).__name__})")
                await asyncio.sleep(self.retry_interval)

    async def _read_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            topics, everything = self._pending.take()
            if not topics and not everything:
                continue
            try:
                read = await asyncio.to_thread(self._read, None if everything else topics)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
                self._fail(reason)
                # Try again by ourselves; the feed may not notice (a file gone missing).
                await asyncio.sleep(self.retry_interval)
                self._request(None)
                continue
            self.last = read
            self.failure = None
            for outlet in list(self.outlets):
                outlet.send_read(read)

    def _read(self, topics: frozenset[str] | None) -> Read:
        """One read and its encoding (in a thread: it touches the database)."""
        if not self._schema_checked:
            reading.ensure_schema(self.store)
            self._schema_checked = True
        before = self.last.snapshot if self.last is not None and self.failure is None else None
        with self.store.rows() as session:
            snapshot, revision = reading.read_room(
                session,
                self.release,
                before,
                topics,
                reading.LOG_LIMIT,
                self.clock.now(),
            )
        self.reads += 1
        # After a failure the apps were told nothing of what they missed: the
        # read is whole, so a delta to it carries every field anyway.
        frame = delta(self.last.snapshot if self.last else None, snapshot, revision, topics)
        if self.failure is not None or self.last is None:
            frame = whole(snapshot, revision)
        read = Read(snapshot, revision, encode(frame))
        if frame.whole and frame.topics is None:
            read._whole = read.delta
        return read

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.log(f"warning: cannot read the room for the sessions: {reason}")
        self.failure = encode(Failed(reason))
        for outlet in list(self.outlets):
            outlet.send_failure(self.failure)

    async def _watch_health(self) -> None:
        # What the apps' own readers did on their clock tick: health goes
        # stale with time alone (a poller died), so re-read it then.
        while True:
            await asyncio.sleep(HEALTH_CHECK_S)
            snapshot = self.last.snapshot if self.last is not None else None
            if snapshot is None or self.failure is not None:
                continue
            now = self.clock.now()
            if any(s.health != snapshot.health_state(s.name, now) for s in snapshot.services):
                self._request(frozenset({"health"}))
