"""The room is live: presence, and riding out a PostgreSQL outage."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from tests.conftest import read_snapshot
from tests.pg import PgServer
from tests.tui_support import SIZE, make_app, settled, wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.defs import PostMessage
from warroom.commands.load import load_plan
from warroom.domain.plan import Plan
from warroom.store import presence
from warroom.store.engine import Store
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.header import WarroomHeader


async def test_the_header_shows_who_else_is_in_the_room(
    loaded: Store, db_url: str, clock: FixedClock
) -> None:
    release_id = read_snapshot(loaded).release_id
    with loaded.rows(write=True) as session:
        presence.beat(
            session,
            instance="mike-ssh",
            release_id=release_id,
            person="mike",
            via="ssh",
            now=clock.now(),
        )
        presence.beat(
            session,
            instance="lisa-1",
            release_id=release_id,
            person="lisa",
            via="terminal",
            now=clock.now(),
        )
        presence.beat(
            session,
            instance="gone",
            release_id=release_id,
            person="omar",
            via="terminal",
            now=clock.now() - timedelta(minutes=5),
        )
    app = make_app(db_url, "sarah", clock)
    app.config.heartbeat_interval = 0.1
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        header = app.query_one(WarroomHeader)
        await wait_until(
            pilot, lambda: "in the room:" in str(header.render()), "presence in the header"
        )
        text = str(header.render())
        assert "mike (ssh)" in text and "lisa" in text
        assert "omar" not in text  # his heartbeat expired
        with loaded.rows() as session:
            here = {p.person for p in presence.present(session, release_id, clock.now())}
        assert "sarah" in here  # the app's own heartbeat
    with loaded.rows() as session:
        here = {p.person for p in presence.present(session, release_id, clock.now())}
    assert "sarah" not in here  # leaving says so


async def test_postgres_outage_is_shown_refused_and_recovered(
    own_pg: PgServer, sample_plan: Plan, sample_text: str, clock: FixedClock
) -> None:
    own_pg.admin("CREATE DATABASE warroom")
    url = own_pg.url("warroom")
    store = Store(url)
    load_plan(store, sample_plan, sample_text, loaded_by="sarah", clock=clock)
    app = make_app(url, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        header = app.query_one(WarroomHeader)
        await asyncio.to_thread(own_pg.stop, "fast")
        # Bounded wait (the goal is 2 s; the feed checks every second).
        await wait_until(
            pilot,
            lambda: "disconnected — retrying" in str(header.render()),
            "the outage",
            tries=150,
        )
        # The last known state stays on screen, and acting is refused, not queued.
        assert app.query_one("#panes").display is True
        app.run_command(PostMessage("during the outage"))
        await wait_until(
            pilot, lambda: any("Not sent" in n.message for n in app._notifications), "refusal"
        )

        await asyncio.to_thread(own_pg.start)
        store.dispose()
        await wait_until(pilot, lambda: "● live" in str(header.render()), "recovery", tries=500)
        Commands(store, clock, "mike").post_message("after the restart")
        log = app.query_one(CommsLog).lines
        await wait_until(
            pilot, lambda: any("after the restart" in line.text for line in log.lines), "new line"
        )
        assert not any("during the outage" in line.text for line in log.lines)
    store.dispose()


async def test_the_log_follows_new_lines_unless_the_reader_scrolled_up(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    mike = Commands(sqlite_loaded, clock, "mike")
    for index in range(40):  # more than the pane holds
        mike.post_message(f"backlog {index}")
    app = make_app(db_path, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        log = app.query_one(CommsLog).lines

        def shows(text: str) -> bool:
            return any(text in line.text for line in log.lines)

        await wait_until(pilot, lambda: log.max_scroll_y > 0, "the log to overflow its pane")
        await wait_until(pilot, lambda: log.scroll_y == log.max_scroll_y, "the log at its end")

        mike.post_message("new while following")  # another connection: through the feed
        await wait_until(pilot, lambda: shows("new while following"), "the new line")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y  # it followed

        log.scroll_to(y=0, animate=False, immediate=True)  # the reader goes back up
        mike.post_message("new while reading back")
        await wait_until(pilot, lambda: shows("new while reading back"), "the second line")
        await pilot.pause()
        assert log.scroll_y == 0 < log.max_scroll_y  # left where the reader was
