"""The change feed across processes, on SQLite and PostgreSQL, including outages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncGenerator
from pathlib import Path

from tests.pg import PgServer
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.load import load_plan
from warroom.domain.plan import Plan
from warroom.store.engine import Store
from warroom.store.feed import FeedEvent, SqliteFeed, open_feed
from warroom.store.migrate import ensure_schema

WARROOM = str(Path(sys.executable).parent / "warroom")


async def next_event(events: AsyncGenerator[FeedEvent, None], timeout: float = 20) -> FeedEvent:
    return await asyncio.wait_for(anext(events), timeout)


async def until(
    events: AsyncGenerator[FeedEvent, None], want: str, timeout: float = 20
) -> FeedEvent:
    """Read events until one matches `want` ("connected", "disconnected" or "changes")."""

    async def scan() -> FeedEvent:
        async for event in events:
            if want == "connected" and event.connected and event.status:
                return event
            if want == "disconnected" and not event.connected:
                return event
            if want == "changes" and event.changes:
                return event
        raise AssertionError("the feed ended")

    return await asyncio.wait_for(scan(), timeout)


def cli(db_url: str, *args: str) -> None:
    env = {**os.environ, "WARROOM_DB": db_url, "WARROOM_NOW": "2024-03-20T13:21:00Z"}
    subprocess.run([WARROOM, *args], env=env, check=True, capture_output=True, timeout=60)


async def test_a_commit_in_another_process_reaches_the_feed(loaded: Store, db_url: str) -> None:
    events = open_feed(db_url, poll_interval=0.02, retry_interval=0.2).events()
    first = await next_event(events)
    assert first.connected
    await asyncio.to_thread(cli, db_url, "say", "--as", "mike", "from another process")
    event = await until(events, "changes")
    assert "log" in event.topics
    await asyncio.to_thread(cli, db_url, "item", "check", "backend-1", "--as", "mike")
    event = await until(events, "changes")
    assert event.topics == {"checklist"}  # one item: no team turned READY, so no log line
    await events.aclose()


async def test_several_commits_between_looks_arrive_in_order(
    loaded: Store, db_url: str, clock: FixedClock
) -> None:
    events = open_feed(db_url, poll_interval=0.02).events()
    assert (await next_event(events)).connected
    mike = Commands(loaded, clock, "mike")
    for index in range(5):
        mike.post_message(f"note {index}")
    seen: list[int] = []
    while len(seen) < 5:
        seen.extend(change.id for change in (await until(events, "changes")).changes)
    assert seen == sorted(seen) and len(set(seen)) == 5
    await events.aclose()


def test_a_reader_left_behind_by_pruning_is_told_to_reload(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    feed = SqliteFeed(db_path)
    feed._poll()  # starts at the newest change
    Commands(sqlite_loaded, clock, "mike").post_message("one")
    Commands(sqlite_loaded, clock, "mike").post_message("two")
    with sqlite_loaded.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM change WHERE id < (SELECT MAX(id) FROM change)")
    changes, resync = feed._poll()
    assert resync and len(changes) == 1


async def test_sqlite_feed_reports_a_missing_database_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    events = open_feed(f"sqlite:///{path}", poll_interval=0.02, retry_interval=0.05).events()
    event = await next_event(events)
    assert not event.connected and "unreachable" in (event.error or "")
    store = Store(f"sqlite:///{path}")
    ensure_schema(store)
    event = await until(events, "connected")
    assert event.resync  # came back: whoever listens must reload everything
    store.dispose()
    await events.aclose()


async def test_postgres_feed_survives_a_restart_and_catches_up(
    own_pg: PgServer, sample_plan: Plan, sample_text: str, clock: FixedClock
) -> None:
    own_pg.admin("CREATE DATABASE warroom")
    url = own_pg.url("warroom")
    store = Store(url)
    load_plan(store, sample_plan, sample_text, loaded_by="sarah", clock=clock)
    mike = Commands(store, clock, "mike")
    # A long retry interval makes the order certain: the change below is made
    # while the feed is still waiting to reconnect.
    events = open_feed(url, retry_interval=3.0).events()
    assert (await next_event(events)).connected
    mike.post_message("before the outage")
    before = await until(events, "changes")

    await asyncio.to_thread(own_pg.stop, "fast")
    down = await until(events, "disconnected", timeout=10)
    assert "database" in (down.error or "")
    await asyncio.to_thread(own_pg.start)
    store.dispose()  # drop pooled connections to the old server
    mike.post_message("while the listener was away")

    back = await until(events, "connected", timeout=15)
    assert back.resync
    caught_up = back.changes or (await until(events, "changes")).changes
    assert caught_up[0].id == before.changes[-1].id + 1

    mike.post_message("after the restart")
    after = await until(events, "changes")
    assert after.changes[-1].id == caught_up[-1].id + 1
    await events.aclose()
    store.dispose()


def test_a_feed_whose_loop_closed_unread_stops_watching_quietly(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    """An app torn down mid-read leaves its feed's generator open and its loop
    closed: the watcher thread must stop at the next change, not raise."""
    import threading

    raised: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: raised.append(args.exc_value or Exception(args))
    try:
        loop = asyncio.new_event_loop()
        feed = SqliteFeed(db_path, poll_interval=0.01)
        events = feed.events()
        first = loop.run_until_complete(anext(events))
        assert first.connected
        watcher = next(t for t in threading.enumerate() if t.name == "warroom-feed")
        loop.close()  # without closing `events`: its `finally` never runs
        Commands(sqlite_loaded, clock, "mike").post_message("after the loop closed")
        watcher.join(timeout=30)
        assert not watcher.is_alive(), "the watcher kept polling for nobody"
        assert raised == []
    finally:
        threading.excepthook = previous
