"""`warroom demo`: the room it builds, a fault injected from the war room, and the clean-up."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import check_everything
from tests.tui_support import SIZE, select_service, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import CommandError, Commands
from warroom.demo import LEAD_TIME, MEETING_LEAD, _meeting_before_window, demo_room
from warroom.domain.plan import parse_plan_text
from warroom.planfile import read_plan
from warroom.resources import sample_plan
from warroom.store.engine import Store
from warroom.store.queries import current_release, load_snapshot
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
