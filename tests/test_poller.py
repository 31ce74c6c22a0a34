"""The poller against real HTTP servers and a real database: bad endpoints,
an outage mid-tick, the lease between processes, and a trigger firing end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.conftest import check_everything, read_snapshot
from tests.pg import PgServer, free_port
from tests.test_probe import Endpoints
from tests.tui_support import SIZE, make_app, settled
from warroom.clock import SystemClock
from warroom.commands import Commands
from warroom.commands.load import load_plan
from warroom.domain.plan import parse_plan_text
from warroom.health.poller import Poller
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.migrate import ensure_schema
from warroom.testing.plans import plan_text
from warroom.tui.widgets.banner import TriggerBanner

WARROOM = str(Path(sys.executable).parent / "warroom")


def load(store: Store, text: str) -> None:
    load_plan(store, parse_plan_text(text), text, loaded_by="sarah", clock=SystemClock())


def sample_counts(store: Store) -> dict[str, int]:
    from sqlmodel import func, select

    with store.read() as session:
        rows = session.exec(
            select(m.HealthSample.service, func.count()).group_by(m.HealthSample.service)
        ).all()
    return {str(name): int(count) for name, count in rows}


def ok_count(store: Store, service: str) -> int:
    from sqlmodel import func, select

    with store.read() as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(m.HealthSample)
                .where(m.HealthSample.service == service, m.HealthSample.ok)
            ).one()
        )


async def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def bad_endpoints() -> AsyncIterator[str]:
    endpoints = Endpoints()
    runner = web.AppRunner(endpoints.app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_bad_endpoints_never_stop_the_others(store: Store, bad_endpoints: str) -> None:
    urls = {
        "api-gateway": f"{bad_endpoints}/ok",
        "auth-service": f"{bad_endpoints}/hang",
        "logging-service": f"http://127.0.0.1:{free_port()}/health",  # refused
        "user-service": f"{bad_endpoints}/huge",
        "mobile-backend": f"{bad_endpoints}/loop",
        "web-frontend": f"{bad_endpoints}/flap",
    }
    load(store, plan_text(urls))
    poller = Poller(
        store.url.render_as_string(hide_password=False), SystemClock(), holder="test-poller"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await wait_for(
            lambda: all(sample_counts(store).get(name, 0) >= 3 for name in urls),
            "3 samples of every service",
        )
        # The healthy one answers among them: the bad ones never stop it. (Not
        # "its latest sample is ok": the endpoints, the poller and this test's
        # database reads share one event loop, and on a saturated machine one
        # /ok answer can honestly miss its 0.5 s timeout.)
        await wait_for(lambda: ok_count(store, "api-gateway") >= 1, "an ok sample of api-gateway")
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    snapshot = read_snapshot(store)
    reasons = {name: s.reason for name, s in snapshot.latest.items()}
    assert reasons["auth-service"] == "no answer within 0.5s"
    assert reasons["logging-service"] == "cannot connect: connection refused"
    assert "over 1 MiB" in (reasons["user-service"] or "")
    assert "redirect" in (reasons["mobile-backend"] or "")
    assert snapshot.poller is not None and snapshot.poller.holder == "test-poller"
    # A clean stop hands the lease back at once.
    assert not snapshot.poller.alive(SystemClock().now())


async def test_the_database_going_away_mid_tick(own_pg: PgServer, bad_endpoints: str) -> None:
    own_pg.admin("CREATE DATABASE warroom")
    url = own_pg.url("warroom")
    store = Store(url)
    ensure_schema(store)
    load(
        store,
        plan_text({"api-gateway": f"{bad_endpoints}/ok", "auth-service": f"{bad_endpoints}/500"}),
    )
    messages: list[str] = []
    poller = Poller(url, SystemClock(), holder="outage-poller", on_status=messages.append)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await wait_for(
            lambda: sample_counts(store).get("api-gateway", 0) >= 2, "samples before the outage"
        )
        await asyncio.to_thread(own_pg.stop, "immediate")
        await wait_for(
            lambda: any("database" in m or "could not record" in m for m in messages),
            "the poller noticing",
        )
        assert not task.done()  # still running
        await asyncio.to_thread(own_pg.start)
        store.dispose()
        before = sample_counts(store).get("api-gateway", 0)
        await wait_for(
            lambda: sample_counts(store).get("api-gateway", 0) > before + 1,
            "samples after the outage",
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        store.dispose()
    assert not task.exception()


class Counting:
    """Health endpoints that count each service's requests, and how many are under way at once."""

    def __init__(self, hanging: set[str]) -> None:
        self.hanging = hanging
        self.requests: dict[str, int] = {}
        self.under_way: dict[str, int] = {}
        self.most_at_once: dict[str, int] = {}
        self.app = web.Application()
        self.app.router.add_get("/{name}/health", self.health)

    async def health(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests[name] = self.requests.get(name, 0) + 1
        self.under_way[name] = self.under_way.get(name, 0) + 1
        self.most_at_once[name] = max(self.most_at_once.get(name, 0), self.under_way[name])
        try:
            if name in self.hanging:
                await asyncio.Event().wait()
            return web.json_response({"status": "pass"})
        finally:
            self.under_way[name] -= 1


async def test_each_interval_group_probes_all_its_services_and_never_one_twice_at_once(
    store: Store,
) -> None:
    """The services probed every N seconds share one scheduled job that starts
    their probes in slots over the interval: every service of each group is
    probed again and again, and a hanging one is never probed twice at once."""
    endpoints = Counting(hanging={"logging-service"})
    # A request the poller gave up on ends on the server too (its handler is
    # cancelled when the connection closes), so `under_way` counts truly.
    runner = web.AppRunner(endpoints.app, shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    every = {"api-gateway": "1s", "auth-service": "1s", "logging-service": "1s"}
    every |= {"user-service": "2s", "web-frontend": "2s"}
    data = yaml.safe_load(
        plan_text({name: f"http://127.0.0.1:{port}/{name}/health" for name in every})
    )
    for service in data["services"]:
        if service["name"] in every:
            service["health"]["interval"] = every[service["name"]]
    load(store, yaml.safe_dump(data, sort_keys=False))
    poller = Poller(store.url.render_as_string(hide_password=False), SystemClock(), holder="groups")
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await wait_for(
            lambda: all(
                sample_counts(store).get(name, 0) >= 6 for name in every if every[name] == "1s"
            ),
            "6 samples of every service probed each second",
            seconds=60,
        )
        # The 2 s group had at least three intervals meanwhile (the sixth 1 s
        # sample comes five seconds after the first at the earliest).
        counts = sample_counts(store)
        assert all(counts.get(name, 0) >= 2 for name in every if every[name] == "2s"), counts
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await runner.cleanup()
    assert endpoints.most_at_once["logging-service"] == 1
    assert set(endpoints.requests) == set(every)
    snapshot = read_snapshot(store)
    assert snapshot.latest["logging-service"].reason == "no answer within 0.5s"


def start_poll(db_url: str, holder_env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [WARROOM, "poll", "--db", db_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=holder_env,
    )


async def test_two_pollers_one_polls_and_a_standby_takes_over(
    store: Store, db_url: str, bad_endpoints: str
) -> None:
    load(store, plan_text({"api-gateway": f"{bad_endpoints}/ok"}, interval="1s"))
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_NOW"}
    first = start_poll(db_url, env)

    def holder() -> str | None:
        snapshot = read_snapshot(store)
        alive = snapshot.poller is not None and snapshot.poller.alive(SystemClock().now())
        return snapshot.poller.holder if snapshot.poller and alive else None

    try:
        await wait_for(lambda: holder() is not None, "the first poller to take the lease")
        first_holder = holder()
        assert first_holder is not None and first_holder.endswith(f":{first.pid}")
        second = start_poll(db_url, env)
        try:
            # Three intervals of the first poller's own progress (not of wall
            # time, which a loaded machine stretches): the standby, running all
            # along, must not steal a lease that is being renewed.
            started = SystemClock().now()

            def polled_since() -> timedelta:
                lease = read_snapshot(store).poller
                last = lease.last_poll_at if lease else None
                return last - started if last else timedelta(0)

            await wait_for(lambda: polled_since() >= timedelta(seconds=3), "3 s of polling")
            assert second.poll() is None, "the standby is still running"
            assert holder() == first_holder
            first.send_signal(signal.SIGKILL)  # dies without a word
            first.wait(timeout=10)
            dead = read_snapshot(store).poller
            assert dead is not None
            await wait_for(
                lambda: (holder() or "").endswith(f":{second.pid}"), "the standby to take over", 15
            )
            # It waited for the dead poller's lease to run out: never stole a
            # live one. (How soon it takes over is timing: benchmarks, not here.)
            with store.read() as session:
                lease = session.get(m.PollerLease, read_snapshot(store).release.id)
                assert lease is not None
                assert lease.acquired_at >= dead.expires_at
            log = read_snapshot(store).log[-1].text
            assert f"took over from {first_holder}" in log
        finally:
            second.send_signal(signal.SIGINT)
            second.wait(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)


async def test_a_fault_fires_the_trigger_end_to_end(store: Store, db_url: str) -> None:
    from warroom.health.simulator import Fault, Simulator

    ports = {"api-gateway": free_port(), "auth-service": free_port()}
    urls = {name: f"http://127.0.0.1:{port}/health" for name, port in ports.items()}
    load(store, plan_text(urls, rule="error_rate > 1% for 3s"))
    clock = SystemClock()
    check_everything(store, clock)  # type: ignore[arg-type]
    Commands(store, clock, "sarah").decide("go")
    for _ in range(4):
        Commands(store, clock, "raj").complete_step("api-gateway")
    simulator = Simulator(ports, control_port=free_port(), seed=1)
    await simulator.start()
    poller = Poller(db_url, clock, holder="e2e")
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await wait_for(lambda: sample_counts(store).get("api-gateway", 0) >= 2, "healthy samples")
        await simulator.set_fault("api-gateway", Fault(error_rate=0.2))

        def trigger_state() -> str:
            found = read_snapshot(store).trigger("error-rate@api-gateway")
            return found.state if found else "missing"

        await wait_for(lambda: trigger_state() == "pending", "the trigger to go pending")
        await wait_for(lambda: trigger_state() == "firing", "the trigger to fire")
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await simulator.stop()
    status = json.loads(
        subprocess.run(
            [WARROOM, "status", "--json", "--db", db_url],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    firing = next(t for t in status["triggers"] if t["id"] == "error-rate@api-gateway")
    assert firing["state"] == "firing" and firing["fired_at"]
    api = next(s for s in status["services"] if s["name"] == "api-gateway")
    assert api["health"]["metrics"]["error_rate"] == pytest.approx(0.2)
    line = next(e["text"] for e in reversed(status["log"]) if "FIRING" in e["text"])
    assert line.startswith("⚠ TRIGGER error-rate FIRING on api-gateway")
    assert "rollback plan: api-gateway" in line
    # …and in a running war room: the banner, in the terminal of whoever looks.
    app = make_app(db_url, "pat", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        banner = app.query_one(TriggerBanner)
        assert banner.display and "error-rate FIRING on api-gateway" in str(banner.render())


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--flush", "-1"], "--flush"),
        (["--flush", "0"], "--flush"),
        (["--flush", "nan"], "--flush"),
        (["--flush", "inf"], "--flush"),
        (["--concurrency", "-5"], "--concurrency"),
        (["--concurrency", "0"], "--concurrency"),
    ],
)
def test_poller_options_out_of_range_are_refused(
    db_path: Path, args: list[str], option: str
) -> None:
    """Once: a core and 300 MB for --flush -1, tracebacks for nan/inf, and a
    --concurrency 0 poller that held the lease, recorded nothing and ignored SIGTERM."""
    result = subprocess.run(
        [WARROOM, "poll", "--db", f"sqlite:///{db_path}", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '{option}'" in result.stderr
    assert "Traceback" not in result.stderr


async def test_sigterm_hands_the_lease_over_promptly_while_a_probe_hangs(
    sqlite_store: Store, db_path: Path, bad_endpoints: str
) -> None:
    """An endpoint that hangs for its whole (long) timeout must not hold a stopping poller."""
    text = plan_text(
        {"api-gateway": f"{bad_endpoints}/hang", "auth-service": f"{bad_endpoints}/ok"}
    )
    data = yaml.safe_load(text)
    for service in data["services"]:
        if service["name"] == "api-gateway":  # probed first, at once, for up to 50 s
            service["health"].update(interval="60s", timeout="50s")
    load(sqlite_store, yaml.safe_dump(data, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_NOW"}
    poller = start_poll(f"sqlite:///{db_path}", env)
    try:
        await wait_for(lambda: sample_counts(sqlite_store).get("auth-service", 0) >= 2, "polling")
        lease = read_snapshot(sqlite_store).poller
        assert lease is not None and lease.holder.endswith(f":{poller.pid}")
        assert lease.alive(SystemClock().now())
        assert "api-gateway" not in sample_counts(sqlite_store)  # its probe is still hanging
        poller.send_signal(signal.SIGTERM)
        # Bounded: well under the hanging probe's 50 s deadline.
        code = await asyncio.to_thread(poller.wait, 15)
        assert code == 0, poller.stderr.read() if poller.stderr else ""
    finally:
        if poller.poll() is None:
            poller.kill()
            poller.wait(timeout=10)
    stderr = poller.stderr.read() if poller.stderr else ""
    assert "Traceback" not in stderr, stderr
    lease = read_snapshot(sqlite_store).poller
    assert lease is not None and not lease.alive(SystemClock().now())  # handed over at once


async def test_a_stopped_poller_writes_no_traceback_and_lands_its_last_batch(
    sqlite_store: Store,
    db_path: Path,
    bad_endpoints: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stop while a flush is writing in its thread (asyncio.to_thread) used
    to let APScheduler's shutdown cancel that job: "Error running job" and a
    CancelledError traceback on stderr, and the batch's outcome lost. The stop
    now waits for the write, then hands the lease over."""
    import logging
    import threading

    from warroom.commands.health import HealthCommands

    load(sqlite_store, plan_text({"api-gateway": f"{bad_endpoints}/ok"}, interval="1s"))
    entered, release = threading.Event(), threading.Event()
    armed = threading.Event()
    record = HealthCommands.record

    def slow_record(self: HealthCommands, *args: Any, **kwargs: Any) -> Any:
        if armed.is_set():
            armed.clear()
            entered.set()
            release.wait(30)  # bounded: the test releases it as soon as the stop began
        return record(self, *args, **kwargs)

    monkeypatch.setattr(HealthCommands, "record", slow_record)
    # What `warroom poll` does with its log: warnings and errors to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    poller = Poller(f"sqlite:///{db_path}", SystemClock(), holder="stop-test", flush_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await wait_for(lambda: poller.stats.flushed >= 1, "a first batch recorded", 60)
        armed.set()
        await wait_for(entered.is_set, "a flush writing in its thread", 60)
        flushed = poller.stats.flushed
        stop.set()
        await wait_for(lambda: poller._stopping, "the stop to begin", 30)
        release.set()
        await asyncio.wait_for(task, 30)
    finally:
        release.set()
        stop.set()
        logging.getLogger().removeHandler(handler)
        if not task.done():
            task.cancel()
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert "CancelledError" not in err and "Error running job" not in err, err
    assert task.exception() is None
    # The batch being written when the stop came was recorded, not dropped.
    assert poller.stats.flushed > flushed
    lease = read_snapshot(sqlite_store).poller
    assert lease is not None and not lease.alive(SystemClock().now())  # handed over
