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

With `prometheus=True` the rule metrics go through a real Prometheus: the
Prometheus sample plan, and a Prometheus server of the machine's own (a Go
program that cannot watch the lifeline, so it runs tethered: see
warroom.lifeline) scraping the simulator's /metrics every second, with its
config and TSDB in the demo's folder and its port free like the others.
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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warroom.clock import OffsetClock
from warroom.lifeline import ENV as lifeline_env
from warroom.resources import prometheus_sample_plan, sample_plan

if TYPE_CHECKING:
    from textual.app import App

LEAD_TIME = timedelta(minutes=2)  # the demo clock starts this long before go/no-go
MEETING_LEAD = timedelta(minutes=5)  # the rehearsal's go/no-go, before the window opens
PROMETHEUS_FALLBACK = Path("/usr/bin/prometheus")  # Debian's package, off some PATHs (sbin-less)
PROMETHEUS_READY_S = 60.0  # generous: a loaded machine starts it slowly
SCRAPE_INTERVAL = "1s"


class DemoRefused(Exception):
    """The demo cannot start as asked; the message says why and what to do, in one sentence."""


@dataclass
class DemoRoom:
    folder: Path
    db_url: str
    plan_path: Path
    control_url: str
    clock: OffsetClock
    processes: list[subprocess.Popen[bytes]]
    teardown: Teardown
    prometheus_url: str | None = None  # where the rule metrics come from, when through Prometheus


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


def find_prometheus() -> str:
    """The Prometheus server to run: on PATH, else Debian's /usr/bin/prometheus."""
    found = shutil.which("prometheus")
    if found is None and os.access(PROMETHEUS_FALLBACK, os.X_OK):
        found = str(PROMETHEUS_FALLBACK)
    if found is None:
        raise DemoRefused(
            "warroom demo --prometheus needs a Prometheus server and there is none on PATH "
            f"or at {PROMETHEUS_FALLBACK}: install one (Debian and Ubuntu: "
            "apt-get install prometheus; elsewhere the release from prometheus.io) "
            "or run warroom demo without --prometheus."
        )
    return found


def _with_prometheus_at(text: str, port: int) -> str:
    """The plan with its Prometheus moved to 127.0.0.1:`port`."""
    moved, count = re.subn(
        r'^(\s*prometheus:\s*\{\s*url:\s*")[^"]*(")',
        rf"\g<1>http://127.0.0.1:{port}\g<2>",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    assert count == 1, "the Prometheus sample plan names its server on a line of its own"
    return moved


def _prometheus_config(folder: Path, control_port: int) -> Path:
    config = folder / "prometheus.yml"
    config.write_text(
        "# warroom demo: the simulator's /metrics, every second\n"
        f"global: {{scrape_interval: {SCRAPE_INTERVAL}, evaluation_interval: {SCRAPE_INTERVAL}}}\n"
        "scrape_configs:\n"
        "  - job_name: simulator\n"
        f'    static_configs: [{{targets: ["127.0.0.1:{control_port}"]}}]\n',
        encoding="utf-8",
    )
    return config


def _await_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Return once Prometheus answers /-/ready; refuse if it stops or takes too long."""
    import httpx

    deadline = time.monotonic() + PROMETHEUS_READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(nothing)"]
            raise DemoRefused(f"Prometheus stopped as it started; its last words: {said[0]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.1)  # polling the condition above, bounded by the deadline
    raise DemoRefused(f"Prometheus was not ready within {PROMETHEUS_READY_S:g}s (its log: {log})")


def _warroom(*args: str) -> list[str]:
    return [sys.executable, "-m", "warroom", *args]


def _spawn(
    command: list[str], env: dict[str, str], log: Path, lifeline: int
) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            command,
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
def demo_room(keep: bool = False, prometheus: bool = False) -> Iterator[DemoRoom]:
    """Build the room (database, simulator, poller, and with `prometheus` a
    Prometheus server the rule metrics go through); tear it all down afterwards.

    Raises DemoRefused (before anything is started) when `prometheus` is asked
    for and none is installed.
    """
    from warroom.commands.load import load_plan
    from warroom.domain.plan import parse_plan_text
    from warroom.planfile import read_plan_text
    from warroom.store.engine import Store

    binary = find_prometheus() if prometheus else None
    folder = Path(tempfile.mkdtemp(prefix="warroom-demo-"))
    teardown = Teardown(folder, keep)
    processes = teardown.processes
    try:
        source = prometheus_sample_plan() if prometheus else sample_plan()
        text = _with_free_ports(read_plan_text(str(source)))
        plan_path = folder / source.name
        text = _meeting_before_window(text, parse_plan_text(text).window.start)
        prometheus_url = None
        if prometheus:
            prometheus_port = _free_port()
            prometheus_url = f"http://127.0.0.1:{prometheus_port}"
            text = _with_prometheus_at(text, prometheus_port)
        plan_path.write_text(text, encoding="utf-8")
        plan = parse_plan_text(text, source=str(plan_path))
        found = plan.metrics_source()
        assert (found.url if found else None) == prometheus_url, "the plan names the demo's own"
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
            simulate = ["simulate", "run", "--plan", str(plan_path)]
            simulate += ["--control-port", str(control_port)]
            processes.append(_spawn(_warroom(*simulate), env, folder / "simulator.log", theirs))
            if binary is not None and prometheus_url is not None:
                tethered = [sys.executable, "-m", "warroom.lifeline", binary]
                tethered += [
                    f"--config.file={_prometheus_config(folder, control_port)}",
                    f"--storage.tsdb.path={folder / 'prometheus-data'}",
                    f"--web.listen-address={prometheus_url.removeprefix('http://')}",
                    "--log.level=warn",
                ]
                log = folder / "prometheus.log"
                processes.append(_spawn(tethered, env, log, theirs))
                # Before the poller: its first queries find Prometheus up (if
                # not yet holding two scrapes: "empty result" for a second).
                _await_ready(processes[-1], prometheus_url, log)
            processes.append(
                _spawn(_warroom("poll", "--db", db_url), env, folder / "poller.log", theirs)
            )
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
            prometheus_url,
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
    build_app: Callable[[DemoRoom], App[Any]],
    keep: bool = False,
    report_to: Path | None = None,
    *,
    prometheus: bool = False,
) -> int:
    """Run the war room on a demo room until it quits or a hang-up/SIGTERM
    ends it; either way the room is torn down. Returns the exit status
    (128 + the signal's number after a signal, as a shell reports it).
    Quitting first writes the day's report to `report_to` and prints where.

    Call from the main thread (signal handlers can only be set there).
    Raises DemoRefused when the room cannot be built as asked.
    """
    ending = _Ending()
    previous = {sig: signal.signal(sig, ending.handle) for sig in ENDING_SIGNALS}
    try:
        with demo_room(keep, prometheus) as room:
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
