"""Sessions' apps forked from a process that has the app loaded already.

Starting Python and importing Textual, SQLAlchemy and the app is most of
the time between `ssh` and the first frame (about 0.8 s of CPU on a small
machine), and when a whole team connects at T-30 those seconds add up. So
the server keeps one helper process that has imported everything once and
then only forks: each session's app is a copy of it, running in well under
a tenth of a second, sharing the loaded code's memory with its siblings.

The helper talks to the server over a private SOCK_SEQPACKET socket (one
message per request, file descriptors alongside):

    server → helper   {"argv": [...], "env": {...}} + the session's pty (slave side)
                      and, if "fd_env" names a variable, a second descriptor
                      (the room's socket, ssh/relay.py) the app finds there
    helper → server   {"ready": true}  once, after loading
                      {"pid": N}       for each request, in order
                      {"exit": N, "status": S}  when a session's app exits

A forked app is set up exactly like a fresh one: a new session whose
controlling terminal is its pty, the pty as stdin/stdout/stderr, and then
`warroom --as NAME tui --via ssh`. If the helper is gone, the server starts
apps from scratch until a new helper is ready; an app whose helper died is
still followed through a pidfd.

This file is both sides: `Preloaded` for the server, `serve_forks()` for the
helper. The helper's program is the warroom command line's
(warroom.cli.preloaded), which knows what to load and how to run a session:
the CLI imports this package, never the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import sys
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MAX_MESSAGE = 65536
# The helper's program, run as `python -m HELPER FD` (a process, not an import).
HELPER = "warroom.cli.preloaded"


class ForkedApp:
    """A session's app forked by the helper: what PtyChild needs of a process."""

    def __init__(self, pid: int, exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


class Preloaded:
    """The server's handle on the helper process."""

    def __init__(self, process: asyncio.subprocess.Process, control: socket.socket) -> None:
        self.process = process
        self._control = control
        self._loop = asyncio.get_running_loop()
        self._pids: deque[asyncio.Future[int]] = deque()
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._claimed: set[int] = set()  # pids whose ForkedApp holds their exit future
        self.closed = False
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, env: Mapping[str, str], timeout: float = 30) -> Preloaded:
        """Start the helper and wait until it has loaded everything (OSError if it fails)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                HELPER,
                str(theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                # stderr stays the server's: a failing import says why there.
                pass_fds=[theirs.fileno()],
                env=dict(env),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        helper = cls(process, ours)
        try:
            first = await asyncio.wait_for(helper._loop.sock_recv(ours, MAX_MESSAGE), timeout)
        except (TimeoutError, OSError):
            first = b""
        if not first or not json.loads(first).get("ready"):
            helper.close()
            raise OSError("the preloaded app process did not start")
        helper._reader = helper._loop.create_task(helper._read())
        return helper

    async def fork(
        self,
        terminal: int,
        argv: Sequence[str],
        env: Mapping[str, str],
        extra: tuple[str, int] | None = None,
    ) -> ForkedApp:
        """Fork a session's app on `terminal` (OSError if the helper cannot);
        `extra`: (variable, fd), a descriptor the app gets too, its number in that variable."""
        if self.closed:
            raise OSError("the preloaded app process is gone")
        message: dict[str, Any] = {"argv": list(argv), "env": dict(env)}
        fds = [terminal]
        if extra is not None:
            message["fd_env"] = extra[0]
            fds.append(extra[1])
        request = json.dumps(message).encode("utf-8")
        answer: asyncio.Future[int] = self._loop.create_future()
        self._pids.append(answer)
        try:
            socket.send_fds(self._control, [request], fds)
        except OSError:
            self._pids.remove(answer)
            raise
        try:
            pid = await asyncio.wait_for(asyncio.shield(answer), 10)
        except TimeoutError:
            # Answers pair with requests by order: after a lost one, trust none.
            self.close()
            raise OSError("the preloaded app process did not answer") from None
        exited = self._exit_of(pid)
        if exited.done():  # it already came and went
            self._exits.pop(pid, None)
        else:
            self._claimed.add(pid)
        return ForkedApp(pid, exited)

    def _exit_of(self, pid: int) -> asyncio.Future[int]:
        future = self._exits.get(pid)
        if future is None:
            future = self._exits[pid] = self._loop.create_future()
            if self.closed:
                self._watch(pid)
        return future

    async def _read(self) -> None:
        try:
            while True:
                data = await self._loop.sock_recv(self._control, MAX_MESSAGE)
                if not data:
                    break
                message: dict[str, Any] = json.loads(data)
                if "pid" in message and self._pids:
                    answer = self._pids.popleft()
                    if not answer.done():
                        answer.set_result(int(message["pid"]))
                elif "exit" in message:
                    pid = int(message["exit"])
                    future = self._exit_of(pid)
                    if not future.done():
                        future.set_result(int(message["status"]))
                    if pid in self._claimed:  # else fork() has yet to pick it up
                        self._claimed.discard(pid)
                        self._exits.pop(pid, None)
        except (OSError, ValueError):
            pass  # a helper we cannot understand is as good as gone
        finally:
            self._lost()
            self._terminate()

    def _lost(self) -> None:
        """The helper is gone: fail what waits on it, follow its orphans by pidfd."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self._control.close()
        while self._pids:
            answer = self._pids.popleft()
            if not answer.done():
                answer.set_exception(OSError("the preloaded app process is gone"))
        for pid, future in list(self._exits.items()):
            if not future.done():
                self._watch(pid)

    def _watch(self, pid: int) -> None:
        future = self._exits[pid]
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # already gone
            future.set_result(0)
            return

        def exited() -> None:
            self._loop.remove_reader(pidfd)
            os.close(pidfd)
            if not future.done():
                future.set_result(0)  # its status went to whoever reaped it

        self._loop.add_reader(pidfd, exited)

    def close(self) -> None:
        """Stop the helper (apps already forked keep running)."""
        if self._reader is not None:
            self._reader.cancel()
        self._lost()
        self._terminate()

    def _terminate(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)


# ---------------------------------------------------------------- the helper's side


def serve_forks(control_fd: int, run: Callable[[Sequence[str]], int]) -> None:
    """The helper's loop: once everything is loaded, fork `run(argv)` for each
    request on the session's pty, until the server closes the socket."""
    control = socket.socket(fileno=control_fd)
    # Loaded objects never change from here on: keep the collector off their
    # pages, so forked apps go on sharing them instead of copying.
    gc.freeze()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # just wake the selector
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    closers: list[Callable[[], object]] = [
        control.close,
        selector.close,
        lambda: os.close(wake_read),
        lambda: os.close(wake_write),
    ]
    try:
        control.sendall(json.dumps({"ready": True}).encode())
        while True:
            for key, _ in selector.select():
                if key.fileobj == wake_read:
                    with contextlib.suppress(OSError):
                        os.read(wake_read, 4096)
                    _reap(control)
                    continue
                message, fds, _flags, _address = socket.recv_fds(control, MAX_MESSAGE, 2)
                if not message:
                    return  # the server has gone; the apps it started stay with their terminals
                request = json.loads(message)
                if len(fds) != (2 if request.get("fd_env") else 1):
                    for fd in fds:
                        os.close(fd)
                    continue
                pid = _fork(request, fds, closers, run)
                control.sendall(json.dumps({"pid": pid}).encode())
    except OSError:
        return  # the server closed our socket


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            control.sendall(json.dumps({"exit": pid, "status": code}).encode())


def _fork(
    request: dict[str, Any],
    fds: list[int],
    closers: list[Callable[[], object]],
    run: Callable[[Sequence[str]], int],
) -> int:
    terminal = fds[0]
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    # The session's app, from here on.
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for close in closers:
            with contextlib.suppress(OSError):
                close()
        os.setsid()
        for fd in (0, 1, 2):
            os.dup2(terminal, fd)
        if terminal > 2:
            os.close(terminal)
        os.environ.update(request["env"])
        if len(fds) > 1:
            os.environ[request["fd_env"]] = str(fds[1])
        code = run(request["argv"])
    except BaseException:
        traceback.print_exc()  # a bug: show it in the person's terminal, then go
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
