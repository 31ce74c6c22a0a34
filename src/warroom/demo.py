"""`warroom demo`: a whole release day to rehearse, in one command.

A temporary SQLite database with the sample plan loaded, a clock that starts
two minutes before the go/no-go meeting, the service simulator and the
health poller (each its own process, on free ports), and the war room in
front. Everything is torn down and deleted when the war room closes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warroom.clock import OffsetClock
from warroom.resources import sample_plan

LEAD_TIME = timedelta(minutes=2)  # the demo clock starts this long before go/no-go


@dataclass
class DemoRoom:
    folder: Path
    db_url: str
    plan_path: Path
    control_url: str
    clock: OffsetClock
    processes: list[subprocess.Popen[bytes]]


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


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "warroom.cli", *args],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
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


@contextmanager
def demo_room(keep: bool = False) -> Iterator[DemoRoom]:
    """Build the room (database, simulator, poller); tear it all down afterwards."""
    from warroom.commands.load import load_plan
    from warroom.domain.plan import parse_plan_text
    from warroom.store.engine import Store

    folder = Path(tempfile.mkdtemp(prefix="warroom-demo-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        text = _with_free_ports(sample_plan().read_text(encoding="utf-8"))
        plan_path = folder / "release-v2.5.0.yaml"
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
        processes.append(
            _spawn(
                ["simulate", "run", "--plan", str(plan_path), "--control-port", str(control_port)],
                env,
                folder / "simulator.log",
            )
        )
        processes.append(_spawn(["poll", "--db", db_url], env, folder / "poller.log"))
        yield DemoRoom(
            folder, db_url, plan_path, f"http://127.0.0.1:{control_port}", clock, processes
        )
    finally:
        _stop(processes)
        if keep:
            print(f"warroom demo: kept {folder} (database, plan and logs)", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
