"""`warroom demo`: the room it builds, a fault injected from the war room, and the clean-up;
`warroom demo --prometheus`: the same day with the rule metrics through a real Prometheus."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from tests.conftest import check_everything
from tests.prom import require_prometheus
from tests.tui_support import SIZE, select_service, settled, wait_until
from warroom import demo as demo_module
from warroom.cli import main
from warroom.clock import Clock, FixedClock
from warroom.commands import CommandError, Commands
from warroom.demo import LEAD_TIME, MEETING_LEAD, DemoRoom, _meeting_before_window, demo_room
from warroom.domain.plan import parse_plan_text
from warroom.lifeline import ENV as LIFELINE_ENV
from warroom.planfile import read_plan
from warroom.resources import sample_plan
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.queries import current_release, load_snapshot
from warroom.testing.ssh import alive, children_of
from warroom.testing.ssh import wait_until as wait_until_sync
from warroom.tui.app import AppConfig, create_app
from warroom.tui.screens.fault import FaultScreen


def polled(db_url: str, now_clock: object) -> bool:
    store = Store(db_url)
    try:
        with store.read() as session:
            release = current_release(session)
            assert release is not None
            snapshot = load_snapshot(session, release, now=now_clock.now())  # type: ignore[attr-defined]
        return len(snapshot.latest) == len(snapshot.services) and all(
            s.ok for s in snapshot.latest.values()
        )
    finally:
        store.dispose()


async def test_the_demo_room_runs_a_release_day_and_cleans_up() -> None:
    with demo_room() as room:
        folder = room.folder
        # The clock starts LEAD_TIME before the go/no-go meeting, which the
        # rehearsal holds MEETING_LEAD before the window opens.
        plan = read_plan(str(room.plan_path)).plan
        go_no_go = plan.go_no_go_at
        assert go_no_go - LEAD_TIME <= room.clock.now() < go_no_go
        assert plan.window.start - go_no_go == MEETING_LEAD
        deadline = asyncio.get_running_loop().time() + 30
        while not polled(room.db_url, room.clock):
            assert asyncio.get_running_loop().time() < deadline, (
                "the demo's poller never reported every service healthy"
            )
            for process in room.processes:
                assert process.poll() is None, (folder / "poller.log").read_text() + (
                    folder / "simulator.log"
                ).read_text()
            await asyncio.sleep(0.2)

        app = create_app(
            AppConfig(
                db_url=room.db_url,
                identity="sarah",
                clock=room.clock,
                simulator_url=room.control_url,
            )
        )
        async with app.run_test(size=SIZE) as pilot:
            await settled(pilot)
            await select_service(pilot, "user-service")
            await pilot.press("F")
            assert isinstance(app.screen, FaultScreen)
            await pilot.press("enter")  # the first fault: 5% errors

            async def fault_of_user_service() -> object:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"{room.control_url}/faults/user-service")
                    return response.json()["fault"].get("error_rate")

            found: list[object] = []

            def injected() -> bool:
                return bool(found) and found[-1] == 0.05

            for _ in range(100):
                found.append(await fault_of_user_service())
                if injected():
                    break
                await pilot.pause(0.05)
            assert injected()
            await wait_until(
                pilot,
                lambda: any("Simulated user-service" in n.message for n in app._notifications),
                "the toast saying so",
            )
        # The demo's normal flow: GO at the meeting; a step before the window
        # is refused with its opening time, and one in the window goes through.
        store = Store(room.db_url)
        try:
            at_meeting = FixedClock(go_no_go)
            check_everything(store, at_meeting)
            Commands(store, at_meeting, "sarah").decide("go", rationale="rehearsal")
            with pytest.raises(CommandError, match="opens at 14:00 UTC \\(in 5m\\)"):
                Commands(store, at_meeting, "raj").complete_step("api-gateway")
            in_window = FixedClock(plan.window.start)
            assert "(1/4)" in Commands(store, in_window, "raj").complete_step("api-gateway")
        finally:
            store.dispose()
        processes = list(room.processes)
    # Everything is gone afterwards.
    assert not folder.exists()
    # Stopped and reaped by the demo itself: poll() here would reap them for it.
    assert all(process.returncode is not None for process in processes)


def test_the_rehearsal_meets_a_few_minutes_before_the_window_and_keeps_the_rest() -> None:
    text = sample_plan().read_text(encoding="utf-8")
    original = parse_plan_text(text)
    moved = parse_plan_text(_meeting_before_window(text, original.window.start))
    assert moved.go_no_go_at == original.window.start - MEETING_LEAD
    assert moved.model_dump(exclude={"go_no_go_at"}) == original.model_dump(exclude={"go_no_go_at"})


# ---------------------------------------------------------------- --prometheus

# Generous for a saturated CPU; conditions, not sleeps, decide. The rule is
# the sample plan's own (error_rate > 1% for 2m, samples every 5 s): the test
# waits for it to go pending on PromQL's rising rate, not for the two minutes
# to firing — tests/test_prometheus.py fires the same query with a 3 s rule.
PROM_WAIT_S = 120.0
PENDING_WAIT_S = 240.0


def _samples(db_url: str, service: str) -> list[m.HealthSample]:
    store = Store(db_url)
    try:
        with store.read() as session:
            return list(
                session.exec(
                    select(m.HealthSample)
                    .where(m.HealthSample.service == service)
                    .order_by(col(m.HealthSample.at))
                ).all()
            )
    finally:
        store.dispose()


def _error_rates(rows: list[m.HealthSample]) -> list[float]:
    return [v for r in rows if (v := json.loads(r.metrics).get("error_rate")) is not None]


def _trigger(db_url: str, now: Clock, tid: str) -> tuple[str, str]:
    store = Store(db_url)
    try:
        with store.read() as session:
            release = current_release(session)
            assert release is not None
            found = load_snapshot(session, release, now=now.now()).trigger(tid)
    finally:
        store.dispose()
    return (found.state, found.detail or "") if found else ("missing", "")


async def _until(condition: Callable[[], bool], what: str, seconds: float, room: DemoRoom) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        logs = "".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}\n"
            for p in sorted(room.folder.glob("*.log"))
        )
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}\n{logs}"
        for process in room.processes:
            assert process.poll() is None, f"a demo process ended while waiting for {what}\n{logs}"
        await asyncio.sleep(0.5)


async def test_with_prometheus_five_percent_errors_move_the_rule_from_promql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_prometheus()
    # The demo's folder goes under tmp_path: the test can see nothing is left.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with demo_room(prometheus=True) as room:
        folder = room.folder
        assert folder.parent == tmp_path and room.prometheus_url is not None
        simulator, tether, poller = room.processes
        # The tether's one child is the Prometheus server, on the demo's port.
        (prometheus_pid, command), *others = children_of(tether.pid).items()
        assert not others and "prometheus" in command, command
        assert f"--web.listen-address={room.prometheus_url.removeprefix('http://')}" in command
        assert str(folder) in command  # its config and TSDB are the demo's
        # The plan the room loaded reads its rule metrics from that Prometheus.
        plan = read_plan(str(room.plan_path)).plan
        source = plan.metrics_source()
        assert source is not None and source.url == room.prometheus_url

        # The day as the demo walks it: GO, the window overridden, api-gateway deploying.
        store = Store(room.db_url)
        try:
            check_everything(store, room.clock)  # type: ignore[arg-type]
            Commands(store, room.clock, "sarah").decide("go", rationale="rehearsal")
            Commands(store, room.clock, "sarah").override("window", "30m", "rehearsal")
            Commands(store, room.clock, "raj").complete_step("api-gateway")
        finally:
            store.dispose()

        def healthy_from_prometheus() -> bool:
            return len(_error_rates(_samples(room.db_url, "api-gateway"))) >= 3

        await _until(healthy_from_prometheus, "error rates from Prometheus", PROM_WAIT_S, room)
        before = _error_rates(_samples(room.db_url, "api-gateway"))
        # Prometheus's ratio of the simulated traffic: exactly 0.3%, every
        # sample (the health JSON's own error_rate is noise, 0.1-0.5%).
        assert before == [pytest.approx(0.003, abs=1e-9)] * len(before), before
        poller_log = (folder / "poller.log").read_text()
        assert f"metrics from Prometheus at {room.prometheus_url}: error_rate, p99_ms" in poller_log
        assert _trigger(room.db_url, room.clock, "error-rate@api-gateway")[0] == "inactive"

        fault = await asyncio.to_thread(
            subprocess.run,
            [
                str(Path(sys.executable).parent / "warroom"),
                "simulate", "fault", "api-gateway", "--error-rate", "5%",
                "--control", room.control_url,
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert fault.returncode == 0, fault.stderr

        await _until(
            lambda: _trigger(room.db_url, room.clock, "error-rate@api-gateway")[0] == "pending",
            "the error-rate trigger to go pending",
            PENDING_WAIT_S,
            room,
        )
        _state, detail = _trigger(room.db_url, room.clock, "error-rate@api-gateway")
        assert "error_rate" in detail, detail
        after = _error_rates(_samples(room.db_url, "api-gateway"))[len(before) :]
        # PromQL's rate over [1m] climbs from 0.3% towards 5% over a minute
        # (pending once past 1%); the health JSON would have jumped straight to 5%.
        assert any(0.01 < v < 0.045 for v in after), after
    # Everything is gone: the processes (Prometheus itself too) and the folder.
    assert simulator.returncode is not None and poller.returncode is not None
    assert tether.returncode == 0, (tether.returncode, "Prometheus stopped cleanly")
    assert not alive(prometheus_pid)
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []


def test_demo_prometheus_without_one_refuses_in_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no prometheus there
    monkeypatch.setattr(demo_module, "PROMETHEUS_FALLBACK", tmp_path / "usr-bin-prometheus")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = CliRunner().invoke(main, ["demo", "--prometheus"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "apt-get install prometheus" in lines[0], result.output
    assert lines[0].startswith("warroom: warroom demo --prometheus needs a Prometheus server")
    assert list(tmp_path.iterdir()) == []  # refused before anything was made


def test_a_tethered_program_ends_when_its_lifeline_closes() -> None:
    """What keeps the demo's Prometheus (which cannot watch a pipe) from
    outliving a demo killed with -9: the tether watches for it."""
    theirs, ours = os.pipe()
    tether = subprocess.Popen(
        [sys.executable, "-m", "warroom.lifeline", "sleep", "600"],
        env={**os.environ, LIFELINE_ENV: str(theirs)},
        pass_fds=(theirs,),
        stdin=subprocess.DEVNULL,
    )
    os.close(theirs)
    try:
        wait_until_sync(lambda: len(children_of(tether.pid)) == 1, "the tethered sleep")
        (program, command), *_ = children_of(tether.pid).items()
        assert command.startswith("sleep 600")
        assert LIFELINE_ENV not in Path(f"/proc/{program}/environ").read_text(errors="replace")
        os.close(ours)  # the parent "dies"
        ours = -1
        assert tether.wait(timeout=60) == 128 + 15  # it passes on the SIGTERM its program died of
        wait_until_sync(lambda: not alive(program), "the tethered program to end")
    finally:
        if ours >= 0:
            os.close(ours)
        if tether.poll() is None:
            tether.kill()
            tether.wait(10)
