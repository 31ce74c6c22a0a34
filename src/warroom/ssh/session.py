"""One SSH session: a war room for one person, bridged between a channel and a pty.

The session is an asyncssh `SSHServerSession` (callbacks, no streams), so
each byte takes the shortest way: channel → `PtyChild.write` → pty master,
and pty master → `channel.write`. Flow control is passed along in both
directions: when the client's window is full, asyncssh calls
`pause_writing` and we stop reading the child's output; when the child does
not read its keys, we stop reading the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import asyncssh

from warroom.domain.durations import format_duration
from warroom.ssh.pty import PtyChild, WindowSize
from warroom.store.relay import FD_ENV

if TYPE_CHECKING:
    from datetime import timedelta

    from warroom.ssh.relay import Outlet
    from warroom.ssh.server import Room, Visit

# Client environment variables passed on to the app: only what says how to
# draw. Nothing else the client sends reaches the child.
PASSED_ENV = ("COLORTERM", "NO_COLOR")
DEFAULT_TERM = "xterm-256color"
NEWLINE = b"\r\n"


class PtySession(asyncssh.SSHServerSession[bytes]):
    def __init__(self, room: Room, visit: Visit) -> None:
        self.room = room
        self.visit = visit
        self.id = uuid.uuid4().hex[:12]
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._term: str | None = None
        self._size = WindowSize(80, 24)
        self._command: str | None = None
        self._child: PtyChild | None = None
        self._admitted = False
        self._closed = False  # the channel is gone
        self._ending: str | None = None  # why we are ending the session ourselves
        self._farewell = ""  # what to tell the client once the app has gone
        self._started_at = time.monotonic()
        self._last_input = time.monotonic()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._outlet: Outlet | None = None  # where the room's reads reach the app

    # ---------------------------------------------------------------- requests

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Mapping[int, int]
    ) -> bool:
        self._term = term_type or DEFAULT_TERM
        self._set_size(term_size)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        # Accepted only to say, in the client's terminal, why nothing runs.
        self._command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False  # no sftp, no scp: this door only opens the war room

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self._set_size((width, height, pixwidth, pixheight))
        self._touch()
        if self._child is not None:
            self._child.resize(self._size)

    def _set_size(self, size: tuple[int, int, int, int]) -> None:
        width, height, pixwidth, pixheight = size
        # A client may send 0x0 (size unknown): keep something drawable.
        self._size = WindowSize(width or 80, height or 24, pixwidth, pixheight)

    # ---------------------------------------------------------------- starting

    def session_started(self) -> None:
        asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        if self._command is not None:
            self._say_and_exit(
                f"warroom: this door only opens the war room, it runs no commands "
                f"(you asked for {self._command!r}); connect with: ssh -t ...",
                2,
            )
            return
        if self._term is None:
            self._say_and_exit(
                "warroom: the war room needs a terminal; connect with ssh -t (or without -T)", 2
            )
            return
        refusal = self.room.admit(self)
        if refusal is not None:
            self._say_and_exit(f"warroom: {refusal}", 1)
            return
        self._admitted = True
        self.visit.sessions += 1
        child = PtyChild(self._on_output, self._on_child_finished, self._on_input_backlog)
        how = "forked"
        theirs: socket.socket | None = None
        try:
            if self.room.settings.shared_reader:
                self._outlet, theirs = self.room.reader.attach()
            if not await self._start_forked(child, theirs):
                how = "cold"
                env = self._child_env()
                fds: list[int] = []
                if theirs is not None:
                    env[FD_ENV] = str(theirs.fileno())
                    fds.append(theirs.fileno())
                await child.start(
                    self.room.child_argv(self.visit.person), env, self._size, pass_fds=fds
                )
        except OSError as exc:
            self.room.log(f"{self.visit.person}: cannot start the war room: {exc}")
            self._say_and_exit("warroom: the war room could not be started here; try again", 1)
            self._release()
            return
        finally:
            if theirs is not None:
                theirs.close()  # the app has its own copy
        if self._closed:  # the client left while the child was starting
            child.stop(self.room.settings.stop_grace)
        self._child = child
        self.room.log(
            f"{self.visit.person}: session {self.id} started "
            f"({self._term}, {self._size.columns}x{self._size.rows}, pid {child.pid}, {how})"
        )
        self._schedule_idle_check()

    async def _start_forked(self, child: PtyChild, room: socket.socket | None) -> bool:
        """Fork the app from the preloaded helper, if it is up; False: start from scratch."""
        helper = await self.room.preloaded()
        if helper is None:
            return False
        args = self.room.app_args(self.visit.person)
        env = self._terminal_env()
        extra = (FD_ENV, room.fileno()) if room is not None else None
        try:
            await child.start_with(
                lambda terminal: helper.fork(terminal, args, env, extra), self._size
            )
        except OSError as exc:
            self.room.log(f"warning: could not fork the preloaded app ({exc})")
            return False
        return True

    def _terminal_env(self) -> dict[str, str]:
        """What the client says about its terminal: TERM, and COLORTERM/NO_COLOR if sent."""
        env = {"TERM": self._term or DEFAULT_TERM}
        assert self._chan is not None
        sent = self._chan.get_environment()
        for name in PASSED_ENV:
            if name in sent:
                env[name] = sent[name]
        return env

    def _child_env(self) -> dict[str, str]:
        return {**self.room.child_env(), **self._terminal_env()}

    # ---------------------------------------------------------------- bridging

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._touch()
        if self._child is not None:
            self._child.write(data)

    def eof_received(self) -> bool:
        return True  # keep drawing for a client that closed its input

    def pause_writing(self) -> None:
        if self._child is not None:
            self._child.pause_output()

    def resume_writing(self) -> None:
        if self._child is not None:
            self._child.resume_output()

    def _on_output(self, data: bytes) -> None:
        if self._chan is not None and not self._closed:
            self._chan.write(data)

    def _on_input_backlog(self, backlogged: bool) -> None:
        if self._chan is None or self._closed:
            return
        if backlogged:
            self._chan.pause_reading()
        else:
            self._chan.resume_reading()

    # ---------------------------------------------------------------- idling

    def _touch(self) -> None:
        self._last_input = time.monotonic()

    def _schedule_idle_check(self) -> None:
        limit = self.room.settings.idle_timeout
        if limit is None:
            return
        due = self._last_input + limit.total_seconds()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_at(
            loop.time() + max(0.0, due - time.monotonic()), self._idle_check
        )

    def _idle_check(self) -> None:
        limit = self.room.settings.idle_timeout
        if limit is None or self._child is None or self._ending is not None:
            return
        if time.monotonic() - self._last_input >= limit.total_seconds():
            self.end(
                f"closed after {_words(limit)} without a keypress; connect again any time", "idle"
            )
        else:
            self._schedule_idle_check()

    # ---------------------------------------------------------------- ending

    def end(self, message: str, why: str) -> None:
        """End the session from our side: stop the app, then tell the client why."""
        if self._ending is not None:
            return
        self._ending = why
        self._farewell = message
        if self._child is not None and self._child.running:
            self._child.stop(self.room.settings.stop_grace)
        elif self._chan is not None and not self._closed:
            self._say_and_exit(f"warroom: {message}", 0)

    def _on_child_finished(self, returncode: int) -> None:
        self._child = None
        elapsed = time.monotonic() - self._started_at
        why = self._ending or ("client left" if self._closed else "quit")
        self.visit.last_end = why
        behind = ""
        if self._outlet is not None and self._outlet.dropped:
            behind = f"; it fell behind and skipped {self._outlet.dropped} reads of the room"
        self.room.log(
            f"{self.visit.person}: session {self.id} ended after {elapsed:.0f}s ({why}{behind})"
        )
        self._release()
        if self._chan is None or self._closed:
            return
        if self._ending is not None:
            # Said after the app has restored the client's screen, so it stays readable.
            self._say_and_exit(f"warroom: {self._farewell}", 0)
        else:
            self._chan.exit(returncode if returncode >= 0 else 128 - returncode)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        # A child still starting is stopped by _start once it is up.
        if self._child is not None:
            self._child.stop(self.room.settings.stop_grace)

    def _release(self) -> None:
        if self._outlet is not None:
            with contextlib.suppress(OSError):
                self._outlet.close()
            self._outlet = None
        if self._admitted:
            self._admitted = False
            self.room.leave(self)

    def _say_and_exit(self, text: str, status: int) -> None:
        if self._chan is None or self._closed:
            return
        self._chan.write(NEWLINE + text.encode("utf-8") + NEWLINE)
        self._chan.exit(status)

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.running


def _words(limit: timedelta) -> str:
    return format_duration(limit)
