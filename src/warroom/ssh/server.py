"""`warroom serve-ssh`: the SSH front door.

Who gets in is decided here and nowhere else:

- public keys only (password and keyboard-interactive are not even offered);
- the key must be one of the loaded release's people's `ssh_keys` or in the
  extra authorized-keys file, re-read for every connection so a newly
  loaded plan applies at once;
- the key decides who you are: `ssh mike@host` with lisa's key is refused,
  while a user name that is nobody in the plan (`ssh host` from a laptop
  whose login is `msmith`) simply gets the key's owner.

Each accepted session runs its own war-room process on its own pty (see
session.py); the room is read once per change for all of them (relay.py).
The asyncio loop here only moves bytes and never touches the database
itself: key look-ups, audit writes and the room's reads run in threads, the
audit writes on a single thread so that a connection's events stay in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import asyncssh

from warroom.clock import Clock
from warroom.commands.access import AccessEvents, Peer
from warroom.commands.tx import CommandError
from warroom.ssh.hostkey import HostKey
from warroom.ssh.keys import (
    ExtraKey,
    KeyFileError,
    KeyRing,
    build_ring,
    fingerprint,
    read_extra_keys,
    read_people,
)
from warroom.ssh.preload import Preloaded
from warroom.ssh.relay import RoomReader
from warroom.ssh.session import PtySession
from warroom.store.engine import Store, StoreError, normalise_url

DEFAULT_PORT = 2222
DEFAULT_MAX_SESSIONS = 50  # the room the performance goals are measured for (README)
DEFAULT_IDLE_TIMEOUT = timedelta(hours=2)
# Refusal events one address may add to the audit log per minute; past that
# they are counted and the count is written with the next one let through.
REFUSALS_PER_MINUTE = 20
# What a session's app inherits from the server's environment: what Python,
# the database drivers and the clock need, and nothing else (not the agent
# socket, display or terminal of whoever started the server).
_PASSED_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "TZ",
        "TMPDIR",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "XDG_CONFIG_HOME",  # where PostgreSQL databases' audit keys are kept
    }
)
_PASSED_PREFIXES = ("LC_", "PG", "WARROOM_")
_NOT_PASSED = frozenset({"WARROOM_USER", "WARROOM_DB"})  # identity and database are set per session


@dataclass(frozen=True)
class ServerSettings:
    db_url: str  # absolute (a session's process may run elsewhere), password included
    host_key: HostKey
    release: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    authorized_keys: Path | None = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    idle_timeout: timedelta | None = DEFAULT_IDLE_TIMEOUT
    stop_grace: float = 5.0  # seconds a session's app gets to leave before it is killed
    login_timeout: float = 30.0
    keepalive_interval: float = 15.0  # a vanished client is noticed after ~4 of these
    preload: bool = True  # fork sessions' apps from a process with the app loaded (preload.py)
    shared_reader: bool = True  # read once per change for every session (relay.py)


class ListenError(Exception):
    """The address cannot be listened on; one sentence naming it."""


@dataclass
class Visit:
    """One authenticated connection: who, from where, with which key."""

    person: str
    fingerprint: str
    peer: Peer
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: float = field(default_factory=time.monotonic)
    sessions: int = 0
    last_end: str | None = None


class Room:
    """What all connections share: the key ring, the session count, the audit writer."""

    def __init__(
        self, settings: ServerSettings, store: Store, clock: Clock, out: TextIO = sys.stdout
    ) -> None:
        self.settings = settings
        self.store = store
        self.out = out
        self.events = AccessEvents(store, clock, settings.release)
        self.sessions: set[PtySession] = set()
        self.doors: set[FrontDoor] = set()
        self.closing = False
        self._audit = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warroom-audit")
        self._extra: tuple[tuple[float, int], list[ExtraKey]] | None = None
        self._logged: set[str] = set()
        self._refusals: dict[str, tuple[float, int, int]] = {}
        self._helper: Preloaded | None = None
        self._helper_task: asyncio.Task[None] | None = None
        self._helper_failures = 0
        self._helper_ready = asyncio.Event()  # set while a helper is up, or none is coming
        # Reads the room once per change for every session's app (ssh/relay.py).
        self.reader = RoomReader(settings.db_url, store, clock, settings.release, self.log)

    # ---------------------------------------------------------------- logging

    def log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} {text}", file=self.out, flush=True)

    def log_once(self, text: str) -> None:
        if text not in self._logged:
            self._logged.add(text)
            self.log(text)

    # ---------------------------------------------------------------- keys

    async def key_ring(self) -> KeyRing:
        """Everyone's keys as of now (StoreError if the database cannot be read)."""
        ring = await asyncio.to_thread(self._read_ring)
        for problem in ring.problems:
            self.log_once(f"warning: {problem}")
        return ring

    def _read_ring(self) -> KeyRing:
        release, people = read_people(self.store, self.settings.release)
        return build_ring(release, people, self._extra_keys())

    def _extra_keys(self) -> list[ExtraKey]:
        path = self.settings.authorized_keys
        if path is None:
            return []
        try:
            info = path.stat()
            stamp = (info.st_mtime, info.st_size)
            if self._extra is not None and self._extra[0] == stamp:
                return self._extra[1]
            keys = read_extra_keys(path)
        except (OSError, KeyFileError) as exc:
            # Fail closed: a broken file lets nobody in through it.
            text = (
                str(exc) if isinstance(exc, KeyFileError) else f"cannot read {path}: {exc.strerror}"
            )
            self.log_once(f"warning: {text}; its keys are not accepted until it is fixed")
            self._extra = None
            return []
        self._extra = (stamp, keys)
        return keys

    # ---------------------------------------------------------------- sessions

    def admit(self, session: PtySession) -> str | None:
        """Take a session slot, or say (to the person) why not."""
        if self.closing:
            return "the war room's SSH door is closing; try again in a moment"
        limit = self.settings.max_sessions
        if len(self.sessions) >= limit:
            sessions = f"{limit} SSH session" + ("" if limit == 1 else "s")
            self.log(f"{session.visit.person}: refused a session, all {sessions} are in use")
            self.audit(
                lambda ev: ev.refused(
                    session.visit.peer,
                    f"all {sessions} in use",
                    person=session.visit.person,
                )
            )
            return (
                f"the war room is full ({sessions}); try again in a few minutes "
                "or ask whoever runs `warroom serve-ssh` to raise --max-sessions"
            )
        self.sessions.add(session)
        return None

    def leave(self, session: PtySession) -> None:
        self.sessions.discard(session)

    def app_args(self, person: str) -> list[str]:
        """The `warroom` arguments of a session's app (the database is in its environment)."""
        args = ["--as", person]
        if self.settings.release:
            args += ["--release", self.settings.release]
        return [*args, "tui", "--via", "ssh"]

    def child_argv(self, person: str) -> list[str]:
        return [sys.executable, "-m", "warroom", *self.app_args(person)]

    def child_env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if (name in _PASSED_NAMES or name.startswith(_PASSED_PREFIXES))
            and name not in _NOT_PASSED
        }
        # In the environment, not on the command line: `ps` shows argv to
        # everyone on the machine, and a PostgreSQL URL may carry a password.
        env["WARROOM_DB"] = self.settings.db_url
        env["PYTHONUTF8"] = "1"  # box drawing even where the locale is plain C
        return env

    # ---------------------------------------------------------------- preloading

    async def preloaded(self) -> Preloaded | None:
        """The helper that forks sessions' apps; None: start them from scratch.

        While the helper is still loading, wait for it: that is quicker than
        a start from scratch, which has all the same loading to do.
        """
        if self._helper is None and self._helper_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._helper_ready.wait()), 5)
        helper = self._helper
        return helper if helper is not None and not helper.closed else None

    def start_helper(self) -> None:
        if (
            not self.settings.preload
            or self.closing
            or self._helper_task is not None
            or self._helper_failures >= 3  # it keeps failing: cold starts only, said once
        ):
            return
        self._helper_task = asyncio.get_running_loop().create_task(self._run_helper())

    async def _run_helper(self) -> None:
        self._helper_ready.clear()
        try:
            helper = await Preloaded.start(self.child_env())
        except OSError as exc:
            self._helper_failures += 1
            self._helper_task = None
            self._helper_ready.set()  # nobody should wait for it any more
            self.log(f"warning: could not preload the app ({exc}); sessions start from scratch")
            return
        if self.closing:
            helper.close()
            self._helper_task = None
            self._helper_ready.set()
            return
        self._helper = helper
        self._helper_ready.set()
        self.log(f"app preloaded (pid {helper.process.pid}): sessions are forked from it")
        await helper.process.wait()
        self._helper = None
        self._helper_task = None
        if not self.closing:
            self._helper_failures += 1
            self.log(
                f"warning: the preloaded app process exited (status {helper.process.returncode}); "
                "starting another"
            )
            helper.close()
            self.start_helper()

    # ---------------------------------------------------------------- audit

    def audit(self, write: Callable[[AccessEvents], None]) -> None:
        """Queue an audit write; events leave in the order they were queued."""

        def run() -> None:
            try:
                write(self.events)
            except (StoreError, CommandError) as exc:
                self.log(f"warning: could not write to the audit log: {exc}")
            except Exception as exc:  # a bug, but the door stays open and says so
                self.log(f"error: audit write failed: {type(exc).__name__}: {exc}")

        self._audit.submit(run)

    def refused(self, peer: Peer, reason: str, person: str | None = None) -> None:
        who = f"{peer.user!r}" + (f" (key of {person})" if person else "")
        self.log(f"refused {who} from {peer.address}:{peer.port}: {reason}")
        now = time.monotonic()
        if len(self._refusals) > 1000:  # forget quiet addresses
            self._refusals = {a: v for a, v in self._refusals.items() if now - v[0] < 60}
        start, count, hidden = self._refusals.get(peer.address, (now, 0, 0))
        if now - start >= 60:
            start, count = now, 0
        if count >= REFUSALS_PER_MINUTE:
            self._refusals[peer.address] = (start, count, hidden + 1)
            return
        self._refusals[peer.address] = (start, count + 1, 0)
        if hidden:
            reason = f"{reason} (and {hidden} more refusals from this address not written)"
        self.audit(lambda ev: ev.refused(peer, reason, person))

    # ---------------------------------------------------------------- closing

    async def close(self) -> None:
        """End every session (their apps leave the room), then finish the audit writes."""
        self.closing = True
        if self._helper is not None:
            self._helper.close()  # the apps it forked are ended below, like any other
        for session in list(self.sessions):
            session.end(
                "the war room's SSH door is closing; connect again in a moment", "server stopped"
            )
        deadline = time.monotonic() + self.settings.stop_grace + 2
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self.reader.close()
        self.log(f"the room was read {self.reader.reads} times for its sessions")
        # Clients hang up by themselves once told why; give them a moment to
        # read it, then close whatever is left (half-authenticated, idle).
        deadline = time.monotonic() + 2
        while self.doors and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for door in list(self.doors):
            door.close()
        await asyncio.to_thread(self._audit.shutdown, wait=True)


class FrontDoor(asyncssh.SSHServer):
    """One TCP connection: authentication, then sessions."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self._conn: asyncssh.SSHServerConnection | None = None
        self._address = "?"
        self._port = 0
        self._user = ""
        self._attempted = False
        self._ring: KeyRing | None = None
        self._offered: list[str] = []
        self._reasons: list[str] = []
        self._refused_person: str | None = None
        self._candidate: tuple[str, str] | None = None
        self._banner_sent = False
        self.visit: Visit | None = None

    # ---------------------------------------------------------------- connection

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername") or ("?", 0)
        self._address, self._port = str(peer[0]), int(peer[1])
        self.room.doors.add(self)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _peer(self) -> Peer:
        return Peer(self._address, self._port, self._user, tuple(self._offered))

    def connection_lost(self, exc: Exception | None) -> None:
        self.room.doors.discard(self)
        visit = self.visit
        if visit is not None:
            seconds = time.monotonic() - visit.started
            why = visit.last_end or _describe_close(exc)
            if exc is not None and visit.last_end is None:
                why = _describe_close(exc)
            self.room.log(
                f"{visit.person} disconnected from {visit.peer.address}:{visit.peer.port} "
                f"after {seconds:.0f}s ({why})"
            )
            self.room.audit(
                lambda ev: ev.disconnected(
                    visit.person,
                    visit.peer,
                    visit.fingerprint,
                    visit.id,
                    seconds=seconds,
                    sessions=visit.sessions,
                    why=why,
                )
            )
        elif self._attempted:
            reason = (
                "; ".join(self._reasons)
                if self._reasons
                else "no public key offered (only public keys are accepted)"
            )
            self.room.refused(self._peer(), reason, self._refused_person)

    # ---------------------------------------------------------------- authentication

    async def begin_auth(self, username: str) -> bool:
        self._user = username
        self._attempted = True
        try:
            ring = await self.room.key_ring()
        except Exception as exc:  # StoreError above all; nobody gets in without the keys
            reason = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
            self.room.log_once(f"warning: cannot read the keys: {reason}")
            self._reasons.append(f"keys could not be read: {reason}")
            self._banner("warroom: keys cannot be checked right now; try again shortly.")
            return True
        if ring.release is None:
            self._reasons.append("no release is loaded")
            self._banner(
                "warroom: no release is loaded yet; ask the release manager to load the plan."
            )
        self._ring = ring
        return True  # always authenticate: there is no way in without a key

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Called for the client's "would you take this key?" probe and again
        # for the signed request; only the latter proves the private key, so
        # nothing is decided until auth_completed.
        ring = self._ring
        if ring is None:
            return False
        print_ = fingerprint(key)
        if print_ not in self._offered:
            self._offered.append(print_)
        owners = ring.owners(key)
        if username in owners:
            owner: str | None = username
        elif len(owners) == 1 and username not in ring.people:
            owner = owners[0]
        else:
            owner = None
        if owner is not None:
            self._candidate = (owner, print_)
            return True
        if not owners:
            self._note(f"unknown key {print_}")
            self._banner(
                f"warroom: your key {print_} is not known here; ask the release manager to add "
                "your public key to your ssh_keys in the plan."
            )
        elif len(owners) == 1:
            self._refused_person = owners[0]
            self._note(f"key {print_} of {owners[0]} offered as user {username!r}")
            self._banner(
                f"warroom: this key does not belong to {username}. The key decides who you are: "
                "connect with your own user name."
            )
        else:
            self._note(f"key {print_} is listed for several people ({', '.join(owners)})")
            self._banner(
                "warroom: this key is listed for several people; connect with the user name "
                "of the one you are."
            )
        return False

    def auth_completed(self) -> None:
        assert self._candidate is not None
        person, print_ = self._candidate
        self.visit = visit = Visit(person, print_, self._peer())
        self.room.log(
            f"{person} connected from {self._address}:{self._port} "
            f"as user {self._user!r} with key {print_}"
        )
        self.room.audit(lambda ev: ev.connected(person, visit.peer, print_, visit.id))

    def _note(self, reason: str) -> None:
        if reason not in self._reasons:
            self._reasons.append(reason)

    def _banner(self, text: str) -> None:
        # One message per connection: a client offering five keys should
        # not get five paragraphs.
        if self._banner_sent or self._conn is None:
            return
        self._banner_sent = True
        with contextlib.suppress(OSError):
            self._conn.send_auth_banner(text + "\r\n")

    # ---------------------------------------------------------------- sessions

    def session_requested(self) -> PtySession | bool:
        if self.visit is None:
            return False
        return PtySession(self.room, self.visit)


def _describe_close(exc: Exception | None) -> str:
    if exc is None:
        return "closed"
    if isinstance(exc, (asyncssh.ConnectionLost, ConnectionError)):
        return "connection lost"  # the client went without saying goodbye
    text = str(exc).strip()
    return text or type(exc).__name__


# ---------------------------------------------------------------- running


async def serve(
    settings: ServerSettings,
    store: Store,
    clock: Clock,
    *,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
) -> None:
    """Listen until `stop` is set (or SIGINT/SIGTERM); ListenError if the address cannot be bound."""
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    room = Room(settings, store, clock, out)
    try:
        ring = await room.key_ring()
    except StoreError as exc:
        room.log(f"warning: cannot read the plan's keys yet ({exc}); will try on each connection")
    else:
        _describe_ring(room, ring)
    try:
        acceptor = await _listen(settings, room)
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or not exc.errno:
            reason = exc.strerror or str(exc)
        else:
            reason = os.strerror(exc.errno)
        raise ListenError(
            f"cannot listen on {_host_port(settings.host, settings.port)}: {reason}"
        ) from None
    port = acceptor.get_port()
    room.start_helper()
    if settings.shared_reader:
        room.reader.start()
    room.log(
        f"listening on {_host_port(settings.host, port)} "
        f"(host key {settings.host_key.fingerprint}, {settings.host_key.path})"
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        room.log("stopping: ending every session")
        acceptor.close()
        await room.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(acceptor.wait_closed(), 2)
        room.log("stopped")


def absolute_db_url(raw: str) -> str:
    """The database URL with a SQLite path made absolute, password kept (StoreError if bad).

    A session's process, or sshd's forced command, does not run in the
    folder this command was started in.
    """
    url = normalise_url(raw)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    return url.render_as_string(hide_password=False)


# The door opens the war room and nothing else: a key is the only way in, a
# terminal the only thing granted (no forwarding, no file transfer), and the
# session's bytes pass through undecoded.
_ONLY_THE_WAR_ROOM: dict[str, object] = {
    "public_key_auth": True,
    "password_auth": False,
    "kbdint_auth": False,
    "gss_auth": False,
    "host_based_auth": False,
    "allow_pty": True,
    "x11_forwarding": False,
    "agent_forwarding": False,
    "allow_scp": False,
    "encoding": None,
}


async def _listen(settings: ServerSettings, room: Room) -> asyncssh.SSHAcceptor:
    return await asyncssh.create_server(
        lambda: FrontDoor(room),
        settings.host,
        settings.port,
        server_host_keys=[settings.host_key.key],
        login_timeout=settings.login_timeout,
        keepalive_interval=settings.keepalive_interval,
        keepalive_count_max=4,
        **_ONLY_THE_WAR_ROOM,
    )


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe_ring(room: Room, ring: KeyRing) -> None:
    if ring.release is None:
        wanted = room.settings.release
        what = f"release {wanted} is not loaded" if wanted else "no release is loaded yet"
        room.log(f"warning: {what}; everyone is refused until it is")
        return
    people = sorted({use.person for uses in ring.uses.values() for use in uses})
    if people:
        room.log(
            f"release {ring.release}: {len(ring.uses)} keys for {len(people)} people "
            f"({', '.join(people)})"
        )
    else:
        room.log(
            f"warning: nobody in release {ring.release} has ssh_keys; everyone is refused "
            "until keys are added to the plan or --authorized-keys"
        )
