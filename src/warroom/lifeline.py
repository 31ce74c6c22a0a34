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

A program that knows nothing of lifelines (the demo's Prometheus) runs
tethered: `python -m warroom.lifeline PROGRAM ARGS...` watches the lifeline
for it, runs it as its own child, and passes its stop on (SIGTERM, then
SIGKILL if it has not ended within CHILD_GRACE_S).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

ENV = "WARROOM_LIFELINE_FD"

# How long a child's graceful stop may take after its parent is gone.
GRACE_S = 10.0
# How long a tethered program may take to stop before it is killed: shorter
# than GRACE_S, so it is gone before the lifeline's watch ends the tether.
CHILD_GRACE_S = 5.0


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


def run_tethered(argv: list[str]) -> int:
    """Run `argv` until it ends; stop it when this process is asked to stop
    (SIGTERM, SIGINT, SIGHUP) or its lifeline closes. Returns its exit status
    (as a shell reports it: 128 + N after signal N)."""
    child: subprocess.Popen[bytes] | None = None
    asked = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal asked
        if asked:
            return
        asked = True
        if child is not None:
            _end(child)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    watch_from_env()  # before the child starts: it must not inherit the variable
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    if asked:  # a stop arrived while it was starting
        _end(child)
    code = child.wait()
    return 128 - code if code < 0 else code


def _end(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    killer = threading.Timer(CHILD_GRACE_S, child.kill)
    killer.daemon = True  # the tether exits as soon as the child has: no wait for it
    killer.start()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m warroom.lifeline PROGRAM [ARGS...]")
    sys.exit(run_tethered(sys.argv[1:]))
