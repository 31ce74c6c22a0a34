"""`warroom demo`: the room it builds, a fault injected from the war room, and the clean-up."""

from __future__ import annotations

import asyncio

import httpx

from tests.tui_support import SIZE, select_service, settled, wait_until
from warroom.demo import LEAD_TIME, demo_room
from warroom.planfile import read_plan
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
        # The clock starts LEAD_TIME before the go/no-go meeting.
        go_no_go = read_plan(str(room.plan_path)).plan.go_no_go_at
        assert go_no_go - LEAD_TIME <= room.clock.now() < go_no_go
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
        processes = list(room.processes)
    # Everything is gone afterwards.
    assert not folder.exists()
    # Stopped and reaped by the demo itself: poll() here would reap them for it.
    assert all(process.returncode is not None for process in processes)
