"""What Prometheus adds to the poller's CPU, with 1,000 services at 5 s.

Prints figures; asserts nothing. The same plan is polled twice, each time by
a fresh poller process over the same number of 5 s intervals: once with its
`metrics:` block (error rate and p99 from two grouped queries, so two
Prometheus requests per interval answer for all 1,000 services) and once
without it. The figure is each poller's CPU seconds (user + system, every
thread of it) per wall second, and the difference between the two is what
Prometheus costs: two requests per interval, parsing 2 x 1,000 series,
attaching them to samples and the rules reading them. Goal: under 5% of a
core. Rounds alternate the two (with, without, with, without) so a change in
the machine's load falls on both alike.

The Prometheus here is a **fake**: an aiohttp server on 127.0.0.1 answering
`/api/v1/query` with a grouped instant vector of 1,000 series (what a real
one sends for `sum by (service) (...)`), and the health endpoints are a
second tiny aiohttp server; both run in a separate process, so the figures
are the poller's own.

    .venv/bin/python benchmarks/bench_prometheus.py [--intervals 12] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import MULTI_PROCESS, Figure, explain

SERVICES = 1000


def names() -> list[str]:
    return [f"svc-{i:04d}" for i in range(SERVICES)]


def serve(health_port: int, prom_port: int) -> None:
    from aiohttp import web

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "pass"})

    async def query(request: web.Request) -> web.Response:
        q = request.query.get("query", "")
        value = "0.003" if "http_requests_total" in q else "120.5"
        result = [{"metric": {"service": n}, "value": [time.time(), value]} for n in names()]
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    async def main() -> None:
        health_app = web.Application()
        health_app.router.add_get("/health/{name}", health)
        prom_app = web.Application()
        prom_app.router.add_get("/api/v1/query", query)
        for app, port in ((health_app, health_port), (prom_app, prom_port)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    asyncio.run(main())


def plan_text(health_port: int, prom_port: int, with_metrics: bool = True) -> str:
    services = [
        {
            "name": n,
            "team": "infra",
            "version": "2.0.0",
            "health": {"url": f"http://127.0.0.1:{health_port}/health/{n}", "interval": "5s"},
        }
        for n in names()
    ]
    plan = {
        "release": "bench",
        "manager": "sarah",
        "window": {"start": "2024-03-20T14:00:00Z", "end": "2024-03-20T16:00:00Z"},
        "rollback_until": "2024-03-20T18:00:00Z",
        "go_no_go_at": "2024-03-20T13:30:00Z",
        "people": [
            {"name": "sarah", "role": "release_manager", "team": "ops"},
            {"name": "raj", "role": "oncall", "team": "infra"},
        ],
        "services": services,
        "metrics": {
            "prometheus": {"url": f"http://127.0.0.1:{prom_port}"},
            "queries": {
                "error_rate": 'sum by (service) (rate(http_requests_total{code=~"5.."}[1m])) / sum by (service) (rate(http_requests_total[1m]))',
                "p99_ms": "histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[1m]))) * 1000",
            },
        },
        "triggers": [
            {"name": "error-rate", "when": "error_rate > 1% for 2m", "states": ["waiting"]},
            {"name": "latency", "when": "p99_ms > 800 for 2m", "states": ["waiting"]},
        ],
    }
    if not with_metrics:
        del plan["metrics"]
    return yaml.safe_dump(plan, sort_keys=False)


INTERVAL_S = 5.0
WARM_UP_S = 15.0  # lease taken, probe jobs staggered over an interval, first grouped answers


async def measure(db_url: str, intervals: int) -> dict[str, float]:
    from warroom.clock import SystemClock
    from warroom.health.poller import Poller

    poller = Poller(db_url, SystemClock(), holder="bench", concurrency=200)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    await asyncio.sleep(WARM_UP_S)
    feed = poller.metrics
    before = resource.getrusage(resource.RUSAGE_SELF)
    requests0, probes0, wall0 = (
        (feed.requests if feed else 0),
        poller.stats.probes,
        time.monotonic(),
    )
    await asyncio.sleep(intervals * INTERVAL_S)
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - wall0
    probes, requests = poller.stats.probes - probes0, (feed.requests if feed else 0) - requests0
    stop.set()
    await task
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu": cpu, "wall": wall, "probes": probes, "requests": requests}


def one(mode: str, intervals: int, health_port: int, prom_port: int) -> None:
    """One poller, in this process alone: print its figures as a JSON line."""
    import logging

    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    from warroom.clock import SystemClock
    from warroom.commands.load import load_plan
    from warroom.domain.plan import parse_plan_text
    from warroom.store.engine import Store
    from warroom.store.migrate import ensure_schema

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        store = Store(url)
        ensure_schema(store)
        text = plan_text(health_port, prom_port, mode == "metrics")
        load_plan(store, parse_plan_text(text), text, loaded_by="sarah", clock=SystemClock())
        store.dispose()
        print(json.dumps({"mode": mode, **asyncio.run(measure(url, intervals))}), flush=True)


def run_one(mode: str, intervals: int, health_port: int, prom_port: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--one", mode, "--intervals", str(intervals)]
    command += ["--ports", str(health_port), str(prom_port)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    if "Traceback" in done.stderr:
        print(done.stderr, file=sys.stderr)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intervals", type=int, default=12, help="5 s intervals measured per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one", choices=["metrics", "none"], help=argparse.SUPPRESS)
    parser.add_argument("--ports", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, args.intervals, *args.ports)
        return
    measure_all(args.intervals, args.rounds)


def run(quick: bool = False) -> list[Figure]:
    """Quick: one round of 2 intervals (still two pollers with a 15 s warm-up each)."""
    return measure_all(2, 1) if quick else measure_all(12, 2)


def measure_all(intervals: int, rounds: int) -> list[Figure]:
    from warroom.testing.net import free_port

    health_port, prom_port = free_port(), free_port()
    server = multiprocessing.Process(target=serve, args=(health_port, prom_port), daemon=True)
    server.start()
    runs: dict[str, list[dict[str, float]]] = {"metrics": [], "none": []}
    loads = [os.getloadavg()[0]]
    try:
        for _ in range(rounds):
            for mode in ("metrics", "none"):
                runs[mode].append(run_one(mode, intervals, health_port, prom_port))
                loads.append(os.getloadavg()[0])
    finally:
        server.terminate()
        server.join(10)
    print(
        f"{SERVICES} services at {INTERVAL_S:g}s, {intervals} intervals per run, "
        f"{rounds} rounds; {os.cpu_count()} cores, 1-minute load average "
        f"{min(loads):.1f}-{max(loads):.1f} during the runs"
    )
    share: dict[str, float] = {}
    for mode, label in (("metrics", "with the two grouped queries"), ("none", "without metrics")):
        each = [r["cpu"] / r["wall"] for r in runs[mode]]
        share[mode] = statistics.median(each)
        probes = sum(r["probes"] for r in runs[mode]) / len(runs[mode])
        requests = sum(r["requests"] for r in runs[mode]) / len(runs[mode])
        print(
            f"  {label:<29} {share[mode] * 100:5.1f}% of a core "
            f"(runs: {', '.join(f'{x * 100:.1f}%' for x in each)}; "
            f"{probes / intervals:.0f} probes and {requests / intervals:.1f} "
            "Prometheus requests per interval)"
        )
    added = share["metrics"] - share["none"]
    print(f"  what Prometheus adds          {added * 100:5.1f}% of a core (goal: under 5%)")
    known = f"{MULTI_PROCESS}; with {share['metrics'] * 100:.1f}%, without {share['none'] * 100:.1f}% of a core"
    return [
        explain(
            Figure(
                "what Prometheus adds to the poller's CPU",
                added * 100,
                "% of a core",
                5,
                kind="total",
            ),
            lambda: known,
        ),
        # The whole poller with its metrics from Prometheus, for the record: its
        # goal is the poller's (bench_health), since every service still has
        # its health probe and its samples written (a plan has no metrics-only
        # services: see the README's "Metrics from Prometheus").
        Figure(
            "the poller's CPU with its metrics from Prometheus",
            share["metrics"] * 100,
            "% of a core",
            None,
            kind="total",
        ),
    ]


if __name__ == "__main__":
    main()
