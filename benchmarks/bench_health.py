"""Health benchmarks (issue 5). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_health.py [--endpoints 1000] [--seconds 30]

- Detection latency: from the moment a rule's `for` duration is satisfied
  (first holding sample + hold) to the trigger showing as firing in another
  process (this one, through the change feed) — goal under one poll interval
  + 250 ms.
- Poller scale: N endpoints at a 5 s interval, 10% of them hanging past
  their 2 s timeout — goal: every endpoint polled every interval, under 25%
  of one core (CPU of the `warroom poll` process, from /proc). The database
  starts with --backlog-minutes of samples already stored, as after a poller
  has run that long (pruning keeps 30 minutes): the steady state, not a
  fresh, empty table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import MULTI_PROCESS, Figure, explain, from_samples, profile_pid  # noqa: E402

WARROOM = str(Path(sys.executable).parent / "warroom")


from warroom.testing.net import free_port  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- detection latency


async def detection(rounds: int) -> Figure:
    from warroom.clock import SystemClock
    from warroom.health.simulator import Fault, Simulator
    from warroom.store.engine import Store
    from warroom.store.feed import open_feed
    from warroom.store.queries import current_release, load_snapshot
    from warroom.testing.plans import deploying, plan_text

    interval, hold = 1.0, 3.0
    latencies: list[float] = []
    for index in range(rounds):
        with tempfile.TemporaryDirectory() as scratch:
            port = free_port()
            text = plan_text(
                {"api-gateway": f"http://127.0.0.1:{port}/health"},
                interval=f"{int(interval)}s",
                timeout="500ms",
                rule=f"error_rate > 1% for {int(hold)}s",
            )
            url = f"sqlite:///{scratch}/d.db"
            store = Store(url)
            clock = SystemClock()
            deploying(store, clock, text)
            async with Simulator(
                {"api-gateway": port}, control_port=free_port(), seed=index
            ) as sim:
                poller = subprocess.Popen([WARROOM, "poll", "--db", url], stderr=subprocess.DEVNULL)
                events = open_feed(url, poll_interval=0.01).events()
                try:
                    await asyncio.sleep(2.5)
                    await sim.set_fault("api-gateway", Fault(error_rate=0.05))
                    while True:
                        event = await asyncio.wait_for(anext(events), 30)
                        if "triggers" not in event.topics:
                            continue
                        with store.read() as session:
                            release = current_release(session)
                            assert release is not None
                            trigger = load_snapshot(session, release).trigger(
                                "error-rate@api-gateway"
                            )
                        if trigger is not None and trigger.state == "firing":
                            seen = clock.now()
                            assert trigger.since is not None
                            satisfied = trigger.since.timestamp() + hold
                            latencies.append(seen.timestamp() - satisfied)
                            break
                finally:
                    await events.aclose()
                    poller.terminate()
                    poller.wait(timeout=20)
            store.dispose()
    goal = interval + 0.25
    p50, worst = statistics.median(latencies), max(latencies)
    verdict = "ok" if worst < goal else "OVER GOAL"
    print(
        f"detection latency ({rounds} rounds, {interval:g}s interval): p50 {p50 * 1000:.0f} ms, "
        f"max {worst * 1000:.0f} ms (goal < {goal * 1000:.0f} ms) {verdict}"
    )
    figure = from_samples(
        f"trigger detection latency ({interval:g}s interval)",
        latencies,
        goal,
        tail="max",
        judge="tail",
    )
    return explain(figure, lambda: f"{MULTI_PROCESS}; seconds per round: {latencies}")


# ---------------------------------------------------------------- poller scale

SERVER = r"""
import asyncio, sys
from aiohttp import web

hanging = set(range(0, int(sys.argv[2]), 10))  # every tenth endpoint hangs

async def health(request):
    index = int(request.match_info["index"])
    if index in hanging:
        await asyncio.Event().wait()
    return web.json_response({"status": "pass", "error_rate": 0.002, "p99_ms": 120})

app = web.Application()
app.router.add_get("/svc/{index}/health", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, shutdown_timeout=0.1)
"""


def scale_plan(endpoints: int, port: int) -> str:
    from genplan import generate

    data: dict[str, Any] = yaml.safe_load(generate(endpoints, endpoints * 2))
    for index, service in enumerate(data["services"]):
        service["health"] = {
            "url": f"http://127.0.0.1:{port}/svc/{index}/health",
            "interval": "5s",
            "timeout": "2s",
        }
    return yaml.safe_dump(data, sort_keys=False)


def prefill(path: Path, minutes: int) -> None:
    """The samples a poller keeps (KEEP_SAMPLES) after running that long: steady state."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    db = sqlite3.connect(path)
    try:
        (release,) = db.execute("SELECT MAX(id) FROM release").fetchone()
        names = [
            n for (n,) in db.execute("SELECT name FROM service WHERE release_id = ?", (release,))
        ]
        now = datetime.now(UTC).replace(tzinfo=None)
        db.executemany(
            "INSERT INTO health_sample (release_id, service, at, ok, status_code, latency_ms, metrics)"
            " VALUES (?, ?, ?, 1, 200, 3.0, '{}')",
            (
                (release, name, (now - timedelta(seconds=5 * k)).isoformat(sep=" "))
                for k in range(minutes * 12)
                for name in names
            ),
        )
        db.commit()
    finally:
        db.close()


GOAL_SHARE = 0.25  # of one core (issue 15)
PROFILE_S = 10  # py-spy on the poller, only when a goal is missed (after measuring)


def scale(endpoints: int, seconds: float, backlog_minutes: int) -> list[Figure]:
    from sqlmodel import col, func, select

    from warroom.store import models as m
    from warroom.store.engine import Store

    profile = ""
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(endpoints)])
        plan = Path(scratch) / "plan.yaml"
        plan.write_text(scale_plan(endpoints, port), encoding="utf-8")
        url = f"sqlite:///{scratch}/scale.db"
        subprocess.run(
            [WARROOM, "--db", url, "load", str(plan), "--as", "rm"], check=True, capture_output=True
        )
        prefill(Path(scratch) / "scale.db", backlog_minutes)
        poller = subprocess.Popen([WARROOM, "poll", "--db", url], stderr=subprocess.DEVNULL)
        store = Store(url)
        try:
            time.sleep(8)  # warm up: first lease, first round of every job
            cpu_before, wall_before = cpu_seconds(poller.pid), time.monotonic()
            loads = [os.getloadavg()[0]]
            with store.read() as session:
                since = session.exec(select(func.max(m.HealthSample.id))).one() or 0
            time.sleep(seconds)
            cpu = cpu_seconds(poller.pid) - cpu_before
            wall = time.monotonic() - wall_before
            loads.append(os.getloadavg()[0])
            with store.read() as session:
                rows = session.exec(
                    select(m.HealthSample.service, func.count())
                    .where(col(m.HealthSample.id) > since)
                    .group_by(m.HealthSample.service)
                ).all()
            counts = {name: count for name, count in rows}
            polled = sum(1 for c in counts.values() if c >= int(wall / 5) - 1)
            if cpu / wall >= GOAL_SHARE or polled < endpoints:
                # Measured already: now where the CPU goes, from the poller as it runs.
                profile = profile_pid(poller.pid, PROFILE_S, f"warroom poll for {PROFILE_S} s")
        finally:
            poller.terminate()
            poller.wait(timeout=30)
            server.terminate()
            server.wait(timeout=30)
            store.dispose()
    expected = wall / 5
    share = cpu / wall
    probes = endpoints * wall / 5
    per_probe_us = cpu / probes * 1e6
    load = f"1-minute load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores"
    verdict = "ok" if share < GOAL_SHARE and polled == endpoints else "OVER GOAL"
    print(
        f"poller scale: {endpoints} endpoints @5s, 10% hanging, {backlog_minutes} min of samples kept: "
        f"{len(counts)}/{endpoints} polled, "
        f"{polled} at every interval (±1 over {wall:.0f}s, ~{expected:.1f} each), "
        f"CPU {share * 100:.1f}% of one core ({cpu:.1f} s over {wall:.0f} s, "
        f"~{per_probe_us:.0f} us per probe with its write; goal < {GOAL_SHARE:.0%}) {verdict}; {load}"
    )
    if profile:
        print(profile)
    # What would meet the goal: the poller is one process whose work is one
    # event loop and one database thread taking turns at the GIL, so more
    # cores do not help; a core that does the same work in less time does.
    faster = share / GOAL_SHARE
    known = (
        f"{len(counts)}/{endpoints} polled, {polled} at every interval over {wall:.0f} s; "
        f"{cpu:.1f} CPU s in {wall:.0f} s, ~{per_probe_us:.0f} us per probe and its share of "
        f"the writes; {load}. The poller is one Python process (an event loop and a database "
        f"thread sharing the GIL): more cores do not lower it, a core ~{faster:.2f}x as fast "
        "single-threaded as this one (or this one unshared, if the load average above is over "
        "its cores) would meet the goal.\n" + (profile or MULTI_PROCESS)
    )
    return [
        explain(
            Figure(
                f"poller CPU, {endpoints} endpoints @5s, 10% hanging, {backlog_minutes} min of samples",
                share * 100,
                "% of a core",
                GOAL_SHARE * 100,
                kind="total",
                note=load,
            ),
            lambda: known,
        ),
        explain(
            Figure(
                f"poller: endpoints missing an interval, of {endpoints}",
                endpoints - polled,
                "",
                1,
                kind="total",
            ),
            lambda: known,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--backlog-minutes", type=int, default=30, help="samples already stored (steady state)"
    )
    args = parser.parse_args()
    asyncio.run(detection(args.rounds))
    scale(args.endpoints, args.seconds, args.backlog_minutes)


def run(quick: bool = False) -> list[Figure]:
    """Quick: one detection round; the poller at 200 endpoints for 10 s over 5 minutes of samples."""
    if quick:
        return [asyncio.run(detection(1)), *scale(200, 10, 5)]
    return [asyncio.run(detection(3)), *scale(1000, 30, 30)]


if __name__ == "__main__":
    main()
