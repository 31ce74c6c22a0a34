"""Live-sync benchmarks (issue 4). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_live.py [--sizes 1,10,50] [--rounds 20]

- Propagation latency: a commit in one process until the change is visible
  in the communication-log widget of N other running app instances
  (headless Textual apps, one process each), p50 and p99, on SQLite and on
  PostgreSQL. Goals at N = 50: p99 < 250 ms (SQLite), < 100 ms (PostgreSQL).
- Idle cost: CPU of one idle app instance following the feed (goal < 2% of a core).

PostgreSQL is started the way the tests start it (warroom.testing.pg).
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import MULTI_PROCESS, Figure, explain, from_samples, on_postgres  # noqa: E402

SAMPLE = ROOT / "sample_data" / "release-v2.5.0.yaml"
NOW = "2024-03-20T14:05:00Z"

# One app instance. It reports "ready", then "seen <marker> <monotonic>" the
# moment a marker line shows up in its log widget. It starts as `warroom tui`
# does (the collector paused until the first read, then what exists frozen:
# warroom/collector.py), so a full collection walking a drawn room does not
# stall it at random changes, as it would not stall the real app.
INSTANCE = r"""
import asyncio, sys, time
from warroom import collector
collector.pause()
from warroom.clock import clock_from_env
from warroom.tui.app import AppConfig, create_app
from warroom.tui.widgets.comms_log import CommsLog

# Event-driven, no polling: report right after the log widget took the lines.
original_show = CommsLog.show
def show(self, snapshot):
    before = len(self.lines.lines)
    original_show(self, snapshot)
    for line in self.lines.lines[before:]:
        if "bench-" in line.text:
            print("seen", line.text.split("bench-", 1)[1].split()[0], time.monotonic(), flush=True)
CommsLog.show = show

app = create_app(AppConfig(
    db_url=sys.argv[1], identity="pat", clock=clock_from_env(), heartbeat_interval=30,
    owns_process=True,
))

async def watch(pilot):
    while not app.query(CommsLog) or not app.loaded or collector.paused():
        await pilot.pause(0.01)
    await pilot.pause(0.5)
    print("ready", flush=True)
    await asyncio.Event().wait()  # idle from here on

app.run(headless=True, size=(120, 36), auto_pilot=watch)
"""


def start_instances(url: str, count: int) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "WARROOM_NOW": NOW}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", INSTANCE, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"an instance did not start: {line!r}")
    return procs


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


QUIET_S = 3.0  # seconds of nothing happening, to subtract the apps' idle CPU


def measure(url: str, count: int, rounds: int) -> tuple[list[float], float]:
    """Each change's latency to each app, and the apps' CPU per change (all of them,
    beyond what they use idle meanwhile)."""
    from warroom.clock import FixedClock
    from warroom.commands import Commands
    from warroom.store.engine import Store

    procs = start_instances(url, count)
    store = Store(url)
    commands = Commands(store, FixedClock(datetime(2024, 3, 20, 14, 5, tzinfo=UTC)), "mike")
    latencies: list[float] = []
    try:
        time.sleep(1.0)  # let every instance settle after its first frame
        pids = [proc.pid for proc in procs]
        quiet = cpu_seconds(pids)
        time.sleep(QUIET_S)
        before = cpu_seconds(pids)
        idle_rate = (before - quiet) / QUIET_S
        started = time.monotonic()
        for index in range(rounds):
            marker = f"{count}x{index}"
            commands.post_message(f"bench-{marker} propagation probe")
            committed = time.monotonic()
            waiting = {proc.stdout.fileno(): proc for proc in procs if proc.stdout}
            deadline = committed + 10
            while waiting and time.monotonic() < deadline:
                ready, _, _ = select.select(list(waiting), [], [], 0.5)
                for fd in ready:
                    line = waiting[fd].stdout.readline()  # type: ignore[union-attr]
                    parts = line.split()
                    if len(parts) == 3 and parts[0] == "seen" and parts[1] == marker:
                        latencies.append(float(parts[2]) - committed)
                        del waiting[fd]
            if waiting:
                print(f"  round {index}: {len(waiting)} instance(s) never showed the change")
            time.sleep(0.2)
        spent = cpu_seconds(pids) - before - idle_rate * (time.monotonic() - started)
    finally:
        store.dispose()
        stop(procs)
    return latencies, spent / max(1, rounds)


def why_over(count: int, per_change: float, goal_ms: float, samples: int) -> str:
    """The reckoning under a missed propagation goal: CPU the change costs, over cores."""
    cores = os.cpu_count() or 1
    needed = max(1, -(-int(per_change * 1000) // int(goal_ms / 2)))
    return (
        f"the {count} apps spend {per_change * 1000:.0f} ms of CPU per change "
        f"({per_change * 1000 / count:.1f} ms each: every app reads what changed for itself "
        f"and Textual draws the new log line); on {cores} cores that alone is "
        f"{per_change * 1000 / cores:.0f} ms with perfect sharing; with half the goal as the "
        f"budget for it, the goal needs about {needed} core{'s' if needed > 1 else ''} of this speed, or one reader for "
        f"many apps (`warroom serve-ssh` reads once for all its sessions); {samples} samples"
    )


def idle_cpu(url: str, seconds: float = 20) -> float:
    """Share of one core used by an idle instance, from /proc (user + system time)."""
    procs = start_instances(url, 1)
    try:
        time.sleep(2)
        stat = Path(f"/proc/{procs[0].pid}/stat")
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        before, start = cpu(), time.monotonic()
        time.sleep(seconds)
        return (cpu() - before) / (time.monotonic() - start)
    finally:
        stop(procs)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(url: str) -> None:
    env = {**os.environ, "WARROOM_NOW": NOW}
    subprocess.run(
        [
            str(Path(sys.executable).parent / "warroom"),
            "--db",
            url,
            "load",
            str(SAMPLE),
            "--as",
            "sarah",
        ],
        check=True,
        capture_output=True,
        env=env,
    )


def run_backend(
    label: str, url: str, sizes: list[int], rounds: int, goal_ms: float, idle_s: float = 20
) -> list[Figure]:
    load(url)
    out: list[Figure] = []
    for count in sizes:
        samples, per_change = measure(url, count, rounds)
        goal = goal_ms / 1000 if count == 50 else None
        figure = from_samples(
            f"{label}: commit -> log line in N={count} apps",
            samples,
            goal,
            tail="p99",
            judge="tail",
        )
        out.append(
            explain(
                figure,
                partial(why_over, count, per_change, goal_ms, len(samples)),
            )
        )
        if not samples:
            print(f"{label:<10} N={count:<3} no samples")
            continue
        p50, p99 = statistics.median(samples), pct(samples, 0.99)
        verdict = "ok" if p99 * 1000 < goal_ms or count != 50 else "OVER GOAL"
        print(
            f"{label:<10} N={count:<3} samples {len(samples):>4}  p50 {p50 * 1000:7.1f} ms  "
            f"p99 {p99 * 1000:7.1f} ms  max {max(samples) * 1000:7.1f} ms  (goal p99 < {goal_ms:.0f} ms at N=50) {verdict}"
        )
    share = idle_cpu(url, idle_s)
    print(f"{label:<10} idle instance CPU: {share * 100:.2f}% of one core (goal < 2%)")
    out.append(
        Figure(
            f"{label}: idle app CPU", share * 100, "% of a core", 2, kind="total", why=MULTI_PROCESS
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    measure_all(sizes, args.rounds, args.backends.split(","))


def run(quick: bool = False) -> list[Figure]:
    """Quick: SQLite only, N = 1 and 5, 5 rounds, 5 s of idle."""
    if quick:
        return measure_all([1, 5], 5, ["sqlite"], idle_s=5)
    return measure_all([1, 10, 50], 20, ["sqlite", "postgresql"])


def measure_all(
    sizes: list[int], rounds: int, backends: list[str], idle_s: float = 20
) -> list[Figure]:
    out: list[Figure] = []
    with tempfile.TemporaryDirectory() as scratch:
        if "sqlite" in backends:
            out += run_backend("sqlite", f"sqlite:///{scratch}/live.db", sizes, rounds, 250, idle_s)
        if "postgresql" in backends:
            out += on_postgres(
                lambda url: run_backend("postgresql", url, sizes, rounds, 100, idle_s)
            )
    return out


if __name__ == "__main__":
    main()
