"""Helper processes that end when the process that started them ends.

`warroom demo` starts the simulator and the poller as processes of their
own. They must not outlive it, however it ends: quitting, a closed window,
a dropped SSH connection, or `kill -9`, which no handler can catch.

The parent makes a pipe, keeps the write end and hands each child the read
end (its number in `$WARROOM_LIFELINE_FD`). Nobody ever writes to it, so a
child reading it blocks until the kernel closes the parent's write end —
which it does whenever the parent exits, for any reason. The child then
sends itself SIGTERM (its ordinary graceful stop: the poller hands over its
lease, the simulator closes its ports), and exits hard if that stop hangs.

Why a pipe rather than Linux's `prctl(PR_SET_PDEATHSIG)`: the death signal
fires when the *thread* that forked the child ends, not the process, and it
needs a `preexec_fn` (unsafe once threads exist); it is also Linux-only. A
pipe's end-of-file is portable, has no such race, and cannot be lost: if the
parent died before the child started watching, the read returns at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

ENV = "WARROOM_LIFELINE_FD"

# How long a child's graceful stop may take after its parent is gone.
GRACE_S = 10.0


def watch_from_env() -> None:
    """If started with a lifeline, end this process when the other end closes.

    Takes the variable out of the environment, so this process's own
    children do not mistake an unrelated descriptor for a lifeline.
    """
    raw = os.environ.pop(ENV, None)
    if not raw:
        return
    try:
        fd = int(raw)
        os.fstat(fd)
    except (ValueError, OSError):
        return  # not ours to watch (or already closed): nothing to do
    threading.Thread(target=_watch, args=(fd,), name="warroom-lifeline", daemon=True).start()


def _watch(fd: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 1):
            pass  # nobody writes; end-of-file (or an error) means the parent is gone
    os.kill(os.getpid(), signal.SIGTERM)
    # A daemon thread: if the graceful stop works, the process ends and so does this wait.
    threading.Event().wait(GRACE_S)
    os._exit(1)
