"""Rule metrics from a real Prometheus (Debian's package) scraping the simulator.

Each test starts its own simulator and Prometheus (1 s scrapes, its own
temp folder and port; tests/prom.py), loads a plan whose `metrics:` queries
read the simulator's /metrics through Prometheus, and runs the real poller.
The health JSON carries error_rate and p99_ms too: the plan says they come
from Prometheus, so the JSON's values are never used for them (the last
test proves it with Prometheus gone and the JSON saying 20% errors).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import col, select

from tests.conftest import check_everything, read_snapshot
from tests.pg import free_port
from tests.prom import PromServer, require_prometheus
from tests.test_poller import load, wait_for
from warroom.clock import SystemClock
from warroom.commands import Commands
from warroom.health.poller import Poller
from warroom.health.simulator import Fault, Simulator
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.testing.plans import plan_text

# Generous for a saturated CPU: conditions, not sleeps, decide.
WAIT_S = 90.0
ERROR_RATE = (
    'sum by (service) (rate(http_requests_total{code=~"5.."}[4s]))'
    " / sum by (service) (rate(http_requests_total[4s]))"
)
P99 = (
    "histogram_quantile(0.99, sum by (service, le) "
    "(rate(http_request_duration_seconds_bucket[4s]))) * 1000"
)


@dataclass
class Rig:
    simulator: Simulator
    prometheus: PromServer
    urls: dict[str, str]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    require_prometheus()
    ports = {"api-gateway": free_port(), "auth-service": free_port()}
    simulator = Simulator(ports, control_port=free_port(), seed=7)
    await simulator.start()
    prometheus = PromServer([f"127.0.0.1:{simulator.control_port}"])
    try:
        await asyncio.to_thread(prometheus.start)
        yield Rig(
            simulator,
            prometheus,
            {name: f"http://127.0.0.1:{port}/health" for name, port in ports.items()},
        )
    finally:
        await asyncio.to_thread(prometheus.stop)
        prometheus.remove()
        await simulator.stop()


@pytest.fixture
def sqlite(db_path: Path) -> Iterator[tuple[Store, str]]:
    url = f"sqlite:///{db_path}"
    store = Store(url)
    yield store, url
    store.dispose()


def prometheus_plan(rig: Rig, rule: str, **queries: str) -> str:
    data: dict[str, Any] = yaml.safe_load(plan_text(rig.urls, rule=rule))
    data["metrics"] = {
        "prometheus": {"url": rig.prometheus.url, "timeout": "900ms"},
        "service_label": "service",
        "queries": queries,
    }
    return yaml.safe_dump(data, sort_keys=False)


def samples(store: Store, service: str) -> list[m.HealthSample]:
    with store.read() as session:
        return list(
            session.exec(
                select(m.HealthSample)
                .where(m.HealthSample.service == service)
                .order_by(col(m.HealthSample.at))
            ).all()
        )


def trigger(store: Store, tid: str) -> tuple[str, str]:
    found = read_snapshot(store).trigger(tid)
    return (found.state, found.detail or "") if found else ("missing", "")


@asynccontextmanager
async def polling(url: str, clock: SystemClock) -> AsyncIterator[Poller]:
    """A poller running on `url` for the block, stopped (bounded) after it."""
    poller = Poller(url, clock, holder="prom-test")
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        yield poller
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def go_and_deploy(store: Store, clock: SystemClock) -> None:
    check_everything(store, clock)  # type: ignore[arg-type]
    Commands(store, clock, "sarah").decide("go")
    Commands(store, clock, "raj").complete_step("api-gateway")  # deploying: watched


def has_metric(store: Store, service: str, metric: str, count: int) -> bool:
    return sum(metric in row.metrics for row in samples(store, service)) >= count


async def test_a_five_percent_error_fault_fires_the_promql_rule(
    rig: Rig, sqlite: tuple[Store, str]
) -> None:
    store, url = sqlite
    clock = SystemClock()
    load(store, prometheus_plan(rig, "error_rate > 1% for 3s", error_rate=ERROR_RATE))
    go_and_deploy(store, clock)
    async with polling(url, clock) as poller:
        await wait_for(
            lambda: has_metric(store, "api-gateway", "error_rate", 2), "PromQL values", WAIT_S
        )
        assert poller.metrics is not None and poller.metrics.client is not None
        # Prometheus's answer (the simulator's healthy 0.3%, exactly), not the
        # health JSON's own noise (0.1-0.5%, drawn per probe).
        rows = [r for r in samples(store, "api-gateway") if "error_rate" in r.metrics]
        assert json.loads(rows[-1].metrics)["error_rate"] == pytest.approx(0.003, abs=1e-9)
        assert trigger(store, "error-rate@api-gateway")[0] == "inactive"
        await rig.simulator.set_fault("api-gateway", Fault(error_rate=0.05))
        await wait_for(
            lambda: trigger(store, "error-rate@api-gateway")[0] == "pending", "pending", WAIT_S
        )
        await wait_for(
            lambda: trigger(store, "error-rate@api-gateway")[0] == "firing", "firing", WAIT_S
        )
        assert "error-rate@api-gateway" in poller.stats.fired
        assert "error_rate" in trigger(store, "error-rate@api-gateway")[1]


async def test_a_p99_latency_fault_fires_the_baseline_rule(
    rig: Rig, sqlite: tuple[Store, str]
) -> None:
    store, url = sqlite
    clock = SystemClock()
    load(store, prometheus_plan(rig, "p99_ms > 2x baseline for 3s", p99_ms=P99))
    check_everything(store, clock)  # type: ignore[arg-type]
    Commands(store, clock, "sarah").decide("go")
    async with polling(url, clock):
        # The baseline is the median before the deploy starts: samples first.
        await wait_for(lambda: has_metric(store, "api-gateway", "p99_ms", 3), "PromQL p99", WAIT_S)
        Commands(store, clock, "raj").complete_step("api-gateway")
        await rig.simulator.set_fault("api-gateway", Fault(latency_ms=800))
        await wait_for(
            lambda: trigger(store, "error-rate@api-gateway")[0] == "firing", "firing", WAIT_S
        )
        found = read_snapshot(store).trigger("error-rate@api-gateway")
        assert found is not None and found.baseline is not None
        # The simulator's healthy p99 is 100-140 ms: the baseline came from
        # Prometheus's histogram, not from nothing.
        assert 80 < found.baseline < 200, found.baseline


async def test_prometheus_gone_is_no_data_with_a_reason_and_fires_nothing(
    rig: Rig, sqlite: tuple[Store, str]
) -> None:
    store, url = sqlite
    clock = SystemClock()
    load(store, prometheus_plan(rig, "error_rate > 1% for 3s", error_rate=ERROR_RATE))
    go_and_deploy(store, clock)
    async with polling(url, clock) as poller:
        await wait_for(
            lambda: has_metric(store, "api-gateway", "error_rate", 2), "PromQL values", WAIT_S
        )
        await asyncio.to_thread(rig.prometheus.stop)
        # The health JSON now says 20% errors: were it believed, the rule would fire.
        await rig.simulator.set_fault("api-gateway", Fault(error_rate=0.2))

        def unreachable() -> list[m.HealthSample]:
            return [
                r
                for r in samples(store, "api-gateway")
                if r.reason and "Prometheus is unreachable" in r.reason
            ]

        # More than the rule's 3 s of samples (1 s apart) without data.
        await wait_for(lambda: len(unreachable()) >= 6, "samples without data", WAIT_S)
        assert all("error_rate" not in r.metrics for r in unreachable())
        state, detail = trigger(store, "error-rate@api-gateway")
        assert state == "inactive", (state, detail)
        assert "no data from Prometheus for error_rate" in detail
        assert "unreachable" in detail
        assert poller.stats.fired == []


async def test_metrics_test_prints_what_each_query_returns(rig: Rig, tmp_path: Path) -> None:
    import subprocess
    import sys

    plan = tmp_path / "plan.yaml"
    plan.write_text(
        prometheus_plan(rig, "error_rate > 1% for 3s", error_rate=ERROR_RATE, p99_ms=P99),
        encoding="utf-8",
    )
    warroom = str(Path(sys.executable).parent / "warroom")

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [warroom, "metrics", "test", "api-gateway", "--plan", str(plan)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    # Until Prometheus has two scrapes, rate() is empty: exit 1, saying so.
    first = await asyncio.to_thread(run)
    assert "Traceback" not in first.stderr
    for _ in range(60):
        proc = await asyncio.to_thread(run)
        if proc.returncode == 0:
            break
        assert "empty result" in proc.stdout or "no series" in proc.stdout, proc.stdout
        await asyncio.sleep(0.5)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error_rate (grouped, one request for all)" in proc.stdout
    assert "api-gateway              0.003" in proc.stdout
