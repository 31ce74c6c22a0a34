"""The poller's CPU with 1,000 services whose error rate and p99 come from Prometheus.

Prints figures; asserts nothing. Two grouped queries per interval (5 s)
answer for all 1,000 services. The Prometheus here is a **fake**: an aiohttp
server on 127.0.0.1 answering `/api/v1/query` with a grouped instant vector
of 1,000 series (what a real one sends for `sum by (service) (...)`), and the
health endpoints are a second tiny aiohttp server; both run in a separate
process, so the figure is the poller's own CPU (probes, two Prometheus
requests per interval, parsing 2 x 1,000 series, attaching them to samples,
recording samples and evaluating rules on SQLite). Goal: under 5% of a
core at 5 s — beyond what the health probes alone cost (bench_health.py).

    .venv/bin/python benchmarks/bench_prometheus.py [--seconds 60] [--no-metrics]

`--no-metrics` runs the same plan without its `metrics:` block: the
difference between the two figures is what Prometheus adds.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


async def measure(db_url: str, seconds: float) -> None:
    from warroom.clock import SystemClock
    from warroom.health.poller import Poller

    poller = Poller(db_url, SystemClock(), holder="bench", concurrency=200)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    await asyncio.sleep(15)  # warm up: lease, jobs staggered over an interval
    feed = poller.metrics
    before = resource.getrusage(resource.RUSAGE_SELF)
    requests0, probes0, wall0 = (
        (feed.requests if feed else 0),
        poller.stats.probes,
        time.monotonic(),
    )
    await asyncio.sleep(seconds)
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - wall0
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stop.set()
    await task
    print(f"{SERVICES} services, interval 5s, {wall:.0f}s measured")
    print(
        f"  probes: {poller.stats.probes - probes0} ({(poller.stats.probes - probes0) / wall:.0f}/s)"
    )
    print(
        f"  Prometheus requests: {(feed.requests if feed else 0) - requests0} ({((feed.requests if feed else 0) - requests0) / wall * 5:.1f} per 5s interval)"
    )
    print(f"  poller CPU: {cpu / wall * 100:.1f}% of one core (probes, Prometheus, samples, rules)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-metrics", action="store_true")
    args = parser.parse_args()
    import logging

    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    from tests.pg import free_port

    from warroom.clock import SystemClock
    from warroom.commands.load import load_plan
    from warroom.domain.plan import parse_plan_text
    from warroom.store.engine import Store
    from warroom.store.migrate import ensure_schema

    health_port, prom_port = free_port(), free_port()
    server = multiprocessing.Process(target=serve, args=(health_port, prom_port), daemon=True)
    server.start()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        store = Store(url)
        ensure_schema(store)
        text = plan_text(health_port, prom_port, not args.no_metrics)
        load_plan(store, parse_plan_text(text), text, loaded_by="sarah", clock=SystemClock())
        store.dispose()
        try:
            asyncio.run(measure(url, args.seconds))
        finally:
            server.terminate()
            server.join(10)


if __name__ == "__main__":
    main()
