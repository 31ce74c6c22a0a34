"""Running the war room for someone at the other end of an SSH connection.

`warroom tui --via ssh` lands here, started either by `warroom serve-ssh`
(one process per session, on a pty of its own) or by a team's own sshd
through an authorized_keys `command="..."`. Two things differ from a local
terminal:

- the terminal can vanish at any moment (the laptop lid closes): the kernel
  then sends SIGHUP, and we leave the room cleanly (the header's presence
  list drops us at once) instead of dying mid-write — with a hard deadline,
  because a terminal that is gone can block the shutdown's last writes;
- under `serve-ssh` the pty is not yet our controlling terminal, so take it:
  that is what makes the kernel deliver SIGWINCH and SIGHUP to us.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import sys
import termios
import threading

from warroom.tui.app import AppConfig, WarroomApp, create_app

# After a hangup, how long the app may take to leave the room before we go anyway.
HANGUP_DEADLINE_S = 3.0


def take_controlling_terminal() -> None:
    """Make stdin's terminal our controlling terminal, when we lead a session without one."""
    with contextlib.suppress(OSError, ValueError):
        # EPERM when not a session leader or already attached elsewhere (sshd
        # has done this for us): either way there is nothing to do.
        fcntl.ioctl(sys.stdin.fileno(), termios.TIOCSCTTY, 0)


def run_remote_app(config: AppConfig) -> None:
    """Run the app until the person quits or their terminal goes away."""
    take_controlling_terminal()
    app = create_app(config)
    asyncio.run(_run(app))


async def _run(app: WarroomApp) -> None:
    loop = asyncio.get_running_loop()

    def hang_up() -> None:
        # The deadline runs on its own thread: the event loop itself may be
        # the thing stuck writing to a terminal that is gone.
        timer = threading.Timer(HANGUP_DEADLINE_S, os._exit, args=(128 + signal.SIGHUP,))
        timer.daemon = True
        timer.start()
        app.exit()

    for signum in (signal.SIGHUP, signal.SIGTERM):
        loop.add_signal_handler(signum, hang_up)
    await app.run_async()
