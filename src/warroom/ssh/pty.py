"""A child process on a fresh pseudo-terminal, driven from asyncio without blocking.

Each SSH session's war room is its own OS process on its own pty: a slow,
stuck or crashing session can only ever hurt itself. The master side is
non-blocking and read with `loop.add_reader`, so the server's event loop
never waits on any one session; when a client stops reading, its bridge stops
reading the master, the kernel's pty buffer fills up and only that child
blocks on its writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

READ_CHUNK = 65536
# Keystrokes waiting for a child that does not read them: past this, stop
# reading from the client too (flow control instead of unbounded memory).
INPUT_HIGH_WATER = 65536


class ChildProcess(Protocol):
    """What we need of a child: asyncio's Process, or an app forked by the preload helper."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


@dataclass(frozen=True)
class WindowSize:
    columns: int
    rows: int
    pixel_width: int = 0
    pixel_height: int = 0

    def packed(self) -> bytes:
        # struct winsize: rows, columns, x pixels, y pixels (unsigned shorts).
        def clamp(value: int) -> int:
            return max(0, min(value, 0xFFFF))

        return struct.pack(
            "HHHH",
            clamp(self.rows),
            clamp(self.columns),
            clamp(self.pixel_width),
            clamp(self.pixel_height),
        )


def set_window_size(fd: int, size: WindowSize) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, size.packed())


class PtyChild:
    """One child process on one pty; output and exit are reported through callbacks."""

    def __init__(
        self,
        on_output: Callable[[bytes], None],
        on_finished: Callable[[int], None],
        on_input_backlog: Callable[[bool], None],
    ) -> None:
        self._on_output = on_output
        self._on_finished = on_finished
        self._on_input_backlog = on_input_backlog  # True: stop sending me keys for now
        self._loop = asyncio.get_running_loop()
        self._master: int | None = None
        self._process: ChildProcess | None = None
        self._pending_input = bytearray()
        self._reading = False
        self._writing = False
        self._output_done = False
        self._returncode: int | None = None
        self._finished = False
        self._backlogged = False
        self._kill_timer: asyncio.TimerHandle | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._returncode is None

    async def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        size: WindowSize,
        cwd: str | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        """Start `argv` on a new pty of `size` (`pass_fds` open in it too); OSError if it cannot be started."""

        def spawn(slave: int) -> Awaitable[ChildProcess]:
            # A new session: the child becomes the pty's session leader, takes
            # it as its controlling terminal (see warroom.ssh.remote), and so gets
            # SIGWINCH and SIGHUP from the kernel like any login session.
            return asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=dict(env),
                cwd=cwd,
                pass_fds=tuple(pass_fds),
                start_new_session=True,
            )

        await self.start_with(spawn, size)

    async def start_with(
        self, spawn: Callable[[int], Awaitable[ChildProcess]], size: WindowSize
    ) -> None:
        """Start the child some other way: `spawn` gets the pty's slave side and returns it."""
        master, slave = os.openpty()
        try:
            set_window_size(slave, size)
            process = await spawn(slave)
        except BaseException:
            os.close(master)
            raise
        finally:
            # Only the child may hold the slave: once it exits, reads on the
            # master fail with EIO, which is how we know the output is complete.
            os.close(slave)
        self._attach(process, master)

    def _attach(self, process: ChildProcess, master: int) -> None:
        os.set_blocking(master, False)
        self._process = process
        self._master = master
        self.resume_output()
        self._loop.create_task(self._wait())

    # ---------------------------------------------------------------- output

    def pause_output(self) -> None:
        """The client is not keeping up: stop reading, so only this child waits."""
        if self._reading and self._master is not None:
            self._loop.remove_reader(self._master)
        self._reading = False

    def resume_output(self) -> None:
        if not self._reading and not self._output_done and self._master is not None:
            self._loop.add_reader(self._master, self._read)
            self._reading = True

    def _read(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""  # EIO: every holder of the slave side has gone
        if not data:
            self._output_done = True
            self.pause_output()
            self._maybe_finish()
            return
        self._on_output(data)

    # ---------------------------------------------------------------- input

    def write(self, data: bytes) -> None:
        """Send keystrokes to the child; never blocks."""
        if self._master is None or self._output_done:
            return
        self._pending_input += data
        self._flush_input()

    def _flush_input(self) -> None:
        assert self._master is not None
        while self._pending_input:
            try:
                written = os.write(self._master, self._pending_input)
            except BlockingIOError:
                break
            except OSError:
                self._pending_input.clear()  # the child is gone; its exit is on its way
                break
            del self._pending_input[:written]
        if self._pending_input and not self._writing:
            self._loop.add_writer(self._master, self._flush_input)
            self._writing = True
        elif not self._pending_input and self._writing:
            self._loop.remove_writer(self._master)
            self._writing = False
        backlogged = len(self._pending_input) > INPUT_HIGH_WATER
        if backlogged != self._backlogged:
            self._backlogged = backlogged
            self._on_input_backlog(backlogged)

    def resize(self, size: WindowSize) -> None:
        if self._master is None or not self.running:
            return
        with contextlib.suppress(OSError):
            set_window_size(self._master, size)
        # The kernel signals the foreground process group of a controlling
        # terminal on a size change; say it again in case the child could not
        # take the pty as its controlling terminal.
        self.signal(signal.SIGWINCH)

    # ---------------------------------------------------------------- ending

    def signal(self, signum: int) -> None:
        if self._process is None or self._returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    def stop(self, grace: float) -> None:
        """Ask the child to finish (SIGHUP, as for a closed terminal); kill it after `grace` s."""
        if not self.running:
            return
        self.signal(signal.SIGHUP)
        if self._kill_timer is None:
            self._kill_timer = self._loop.call_later(grace, self.signal, signal.SIGKILL)

    async def _wait(self) -> None:
        assert self._process is not None
        self._returncode = await self._process.wait()
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        if not self._output_done:
            # Normally EIO on the master follows at once; don't wait forever
            # on a grandchild that kept the terminal open.
            self._loop.call_later(1.0, self._give_up_on_output)
        self._maybe_finish()

    def _give_up_on_output(self) -> None:
        self._output_done = True
        self.pause_output()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._finished or not self._output_done or self._returncode is None:
            return
        self._finished = True
        self.close()
        self._on_finished(self._returncode)

    def close(self) -> None:
        """Release the pty (the child, if still there, gets SIGHUP from the kernel)."""
        if self._master is None:
            return
        self.pause_output()
        if self._writing:
            self._loop.remove_writer(self._master)
            self._writing = False
        with contextlib.suppress(OSError):
            os.close(self._master)
        self._master = None
