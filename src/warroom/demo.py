"""`warroom demo`: a whole release day to rehearse, in one command.

A temporary SQLite database with the sample plan loaded, a clock that starts
two minutes before the go/no-go meeting, the service simulator and the
health poller (each its own process, on free ports), and the war room in
front. Everything is torn down and deleted when the war room closes; the
day's report is written first, outside the temporary folder, so the
rehearsal leaves its story behind.

The rehearsal holds its go/no-go meeting five minutes before the deploy
window opens (the plan says half an hour): no deploy starts before the
window, and nobody rehearsing should wait half an hour for it. A step tried
right after GO is refused with the window's opening time, which is the
moment to try an override (o); a few minutes later deploys go through.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warroom.clock import OffsetClock
from warroom.lifeline import ENV as lifeline_env
from warroom.resources import sample_plan

if TYPE_CHECKING:
    from textual.app import App

LEAD_TIME = timedelta(minutes=2)  # the demo clock starts this long before go/no-go
MEETING_LEAD = timedelta(minutes=5)  # the rehearsal's go/no-go, before the window opens


@dataclass
class DemoRoom:
    folder: Path
    db_url: str
    plan_path: Path
    control_url: str
    clock: OffsetClock
    processes: list[subprocess.Popen[bytes]]
    teardown: Teardown


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_free_ports(text: str) -> str:
    """The sample plan with each health URL moved to a free port (two demos can run at once)."""
    ports: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        port = ports.setdefault(match.group(1), _free_port())
        return f"127.0.0.1:{port}/"

    return re.sub(r"127\.0\.0\.1:(\d+)/", replace, text)


def _meeting_before_window(text: str, window_start: datetime) -> str:
    """The plan with its go/no-go meeting MEETING_LEAD before the window opens."""
    moment = (window_start - MEETING_LEAD).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    moved, count = re.subn(
        r"^go_no_go_at:.*$", f"go_no_go_at: {moment}", text, count=1, flags=re.MULTILINE
    )
    assert count == 1, "the sample plan names its go/no-go meeting on a line of its own"
    return moved


def _spawn(
    args: list[str], env: dict[str, str], log: Path, lifeline: int
) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "warroom.cli", *args],
            env={**env, lifeline_env: str(lifeline)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=(lifeline,),  # the child ends when the demo does (warroom.lifeline)
            start_new_session=True,  # the terminal's Ctrl-C belongs to the war room
        )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Teardown:
    """Stops the room's processes and deletes its folder, once, from whichever
    thread gets there first (the main thread leaving the room, or the deadline
    after a hang-up)."""

    def __init__(self, folder: Path, keep: bool) -> None:
        self.folder = folder
        self.keep = keep
        self.processes: list[subprocess.Popen[bytes]] = []
        self.lifeline: int | None = None  # our end of the children's lifeline
        self.started = False  # once True, the room is going away: signals change nothing
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        self.started = True
        with self._lock:
            if self._done:
                return
            self._done = True
            _stop(self.processes)
            if self.lifeline is not None:
                os.close(self.lifeline)
            if self.keep:
                print(
                    f"warroom demo: kept {self.folder} (database, plan and logs)",
                    file=sys.stderr,
                )
            else:
                shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def demo_room(keep: bool = False) -> Iterator[DemoRoom]:
    """Build the room (database, simulator, poller); tear it all down afterwards."""
    from warroom.commands.load import load_plan
    from warroom.domain.plan import parse_plan_text
    from warroom.planfile import read_plan_text
    from warroom.store.engine import Store

    folder = Path(tempfile.mkdtemp(prefix="warroom-demo-"))
    teardown = Teardown(folder, keep)
    processes = teardown.processes
    try:
        text = _with_free_ports(read_plan_text(str(sample_plan())))
        plan_path = folder / "release-v2.5.0.yaml"
        text = _meeting_before_window(text, parse_plan_text(text).window.start)
        plan_path.write_text(text, encoding="utf-8")
        plan = parse_plan_text(text, source=str(plan_path))
        start = plan.go_no_go_at - LEAD_TIME
        offset = start - datetime.now(UTC)
        clock = OffsetClock(offset)
        db_url = f"sqlite:///{folder / 'warroom.db'}"
        store = Store(db_url)
        load_plan(store, plan, text, loaded_by=plan.manager, clock=clock)
        store.dispose()

        control_port = _free_port()
        env = {
            **os.environ,
            "WARROOM_CLOCK_OFFSET": str(offset.total_seconds()),
            "WARROOM_DB": db_url,
        }
        env.pop("WARROOM_NOW", None)
        theirs, teardown.lifeline = os.pipe()
        try:
            processes.append(
                _spawn(
                    [
                        "simulate",
                        "run",
                        "--plan",
                        str(plan_path),
                        "--control-port",
                        str(control_port),
                    ],
                    env,
                    folder / "simulator.log",
                    theirs,
                )
            )
            processes.append(_spawn(["poll", "--db", db_url], env, folder / "poller.log", theirs))
        finally:
            os.close(theirs)
        yield DemoRoom(
            folder,
            db_url,
            plan_path,
            f"http://127.0.0.1:{control_port}",
            clock,
            processes,
            teardown,
        )
    finally:
        teardown()


# ---------------------------------------------------------------- running it
#
# Closing the window (SIGHUP), an SSH drop (SIGHUP) or `kill` (SIGTERM) must
# clean up exactly as quitting does. Python's default for both signals is to
# die on the spot, skipping every `finally`, so the demo handles them itself,
# with one handler for its whole life that acts by phase:
#
# - while the room is being built: raise SystemExit, so the `finally` of
#   `demo_room` stops whatever was started and deletes the folder;
# - while the war room runs: ask the app to exit (on its event loop), and
#   start a deadline, because an app writing to a terminal that is gone can
#   block; at the deadline the room is torn down from the timer's thread and
#   the process exits;
# - while the room is being torn down: nothing (it is already going).
#
# SIGKILL cannot be handled: the children's lifeline (warroom.lifeline)
# still ends them; only the temporary folder is then left behind.

HANGUP_DEADLINE_S = 5.0
ENDING_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


class _Ending:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.app: App[Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.teardown: Teardown | None = None
        self.timer: threading.Timer | None = None

    @property
    def code(self) -> int:
        return 0 if self.signum is None else 128 + self.signum

    def handle(self, signum: int, _frame: object) -> None:
        if self.signum is None:
            self.signum = signum
        if self.teardown is not None and self.teardown.started:
            return
        if self.app is None or self.loop is None:
            raise SystemExit(self.code)
        if self.timer is None:
            self.timer = threading.Timer(HANGUP_DEADLINE_S, self._deadline)
            self.timer.daemon = True
            self.timer.start()
        self.loop.call_soon_threadsafe(self.app.exit)

    def _deadline(self) -> None:
        if self.teardown is not None:
            self.teardown()
        os._exit(self.code)


def write_report(room: DemoRoom, path: Path) -> str:
    """Write the demo day's report (Markdown) to `path`; say where, or why not."""
    from warroom.domain.report import build_report
    from warroom.reporting import render, save
    from warroom.store.engine import Store, StoreError
    from warroom.store.queries import current_release, read_history

    store = Store(room.db_url)
    try:
        with store.read() as session:
            release = current_release(session)
            if release is None:
                return "warroom demo: no release, no report"
            history = read_history(session, release)
        written = save(path, render(build_report(history, room.clock.now()), "md"))
    except (StoreError, OSError) as exc:
        return f"warroom demo: the day's report was not written to {path}: {exc}"
    finally:
        store.dispose()
    return f"warroom demo: the day's report is in {written}"


def run_demo(
    build_app: Callable[[DemoRoom], App[Any]], keep: bool = False, report_to: Path | None = None
) -> int:
    """Run the war room on a demo room until it quits or a hang-up/SIGTERM
    ends it; either way the room is torn down. Returns the exit status
    (128 + the signal's number after a signal, as a shell reports it).
    Quitting first writes the day's report to `report_to` and prints where.

    Call from the main thread (signal handlers can only be set there).
    """
    ending = _Ending()
    previous = {sig: signal.signal(sig, ending.handle) for sig in ENDING_SIGNALS}
    try:
        with demo_room(keep) as room:
            ending.teardown = room.teardown
            app = build_app(room)

            async def run() -> None:
                ending.loop = asyncio.get_running_loop()
                ending.app = app
                try:
                    await app.run_async()
                finally:
                    ending.app = None  # a signal from here on ends the process plainly

            if ending.signum is None:
                asyncio.run(run())
            if ending.signum is None and report_to is not None:
                # Quit, not hung up on: someone is there to read where it went.
                print(write_report(room, report_to), file=sys.stderr)
        if ending.timer is not None:
            ending.timer.cancel()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ending.code
