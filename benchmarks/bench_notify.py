"""Notification benchmark (issue 14 item 2). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_notify.py [--rounds 5]

Fired trigger → webhook received: a `warroom poll` process polls a
simulated service whose error rate is raised; the rule fires; its
notification goes through the outbox to a Slack-format webhook and a
PagerDuty-format endpoint on 127.0.0.1. Measured from the trigger's
`fired_at` (the poller's clock, when the firing transaction ran) to the
receiver getting the request — goal under 1 s.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from figures import MULTI_PROCESS, Figure, explain, from_samples  # noqa: E402

WARROOM = str(Path(sys.executable).parent / "warroom")


async def round_trip(index: int) -> dict[str, float]:
    from aiohttp import web

    from warroom.clock import SystemClock
    from warroom.health.simulator import Fault, Simulator
    from warroom.store.engine import Store
    from warroom.store.queries import current_release, load_snapshot
    from warroom.testing.net import free_port
    from warroom.testing.plans import deploying, plan_text, with_notify

    received: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        name = request.path.strip("/")
        fired = "FIRING" in str(body.get("text", "")) or body.get("event_action") == "trigger"
        if fired and name not in received:
            received[name] = time.time()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    base = f"http://127.0.0.1:{hook_port}"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            port = free_port()
            text = with_notify(
                plan_text(
                    {"api-gateway": f"http://127.0.0.1:{port}/health"},
                    interval="1s",
                    timeout="500ms",
                    rule="error_rate > 1% for 2s",
                ),
                [
                    {"name": "chan", "slack_url_env": "B_CHAN", "events": ["trigger_fired"]},
                    {
                        "name": "pager",
                        "pagerduty_key_env": "B_PD_KEY",
                        "pagerduty_url_env": "B_PD_URL",
                        "events": ["trigger_fired"],
                    },
                ],
            )
            url = f"sqlite:///{scratch}/n.db"
            store = Store(url)
            clock = SystemClock()
            deploying(store, clock, text)
            env = {k: v for k, v in os.environ.items() if k != "WARROOM_NOW"}
            env.update(B_CHAN=f"{base}/chan", B_PD_URL=f"{base}/pager", B_PD_KEY="bench")
            async with Simulator(
                {"api-gateway": port}, control_port=free_port(), seed=index
            ) as sim:
                poller = subprocess.Popen(
                    [WARROOM, "poll", "--db", url], stderr=subprocess.DEVNULL, env=env
                )
                try:
                    await asyncio.sleep(2.5)
                    await sim.set_fault("api-gateway", Fault(error_rate=0.05))
                    deadline = time.monotonic() + 60
                    while len(received) < 2 and time.monotonic() < deadline:
                        await asyncio.sleep(0.01)
                finally:
                    poller.terminate()
                    poller.wait(timeout=20)
            with store.read() as session:
                release = current_release(session)
                assert release is not None
                trigger = load_snapshot(session, release).trigger("error-rate@api-gateway")
            store.dispose()
            assert trigger is not None and trigger.fired_at is not None
            fired = trigger.fired_at.timestamp()
            return {name: at - fired for name, at in received.items()}
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    measure_all(args.rounds)


def run(quick: bool = False) -> list[Figure]:
    """Quick: one round."""
    return measure_all(1 if quick else 5)


def measure_all(rounds: int) -> list[Figure]:
    out: list[Figure] = []
    figures: dict[str, list[float]] = {"chan": [], "pager": []}
    for index in range(rounds):
        got = asyncio.run(round_trip(index))
        for name, value in got.items():
            figures[name].append(value)
    for name, values in figures.items():
        label = f"fired trigger -> {name} webhook received"
        figure = from_samples(label, values, 1.0, tail="max", judge="tail")
        out.append(
            explain(figure, lambda values=values: f"{MULTI_PROCESS}; seconds per round: {values}")  # type: ignore[misc]
        )
        if not values:
            print(f"{name}: nothing received")
            continue
        p50, worst = statistics.median(values), max(values)
        verdict = "ok" if worst < 1.0 else "OVER GOAL"
        print(
            f"fired trigger -> {name} webhook received ({len(values)} rounds): "
            f"p50 {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms (goal < 1000 ms) {verdict}"
        )
    return out


if __name__ == "__main__":
    main()
