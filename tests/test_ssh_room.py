"""The room read once for every SSH session (ssh/relay.py), end to end.

`warroom serve-ssh` follows the change feed and reads the snapshot once per
change, for all its sessions; each session's app shows what the server
hands it. Real parts throughout: the server as a subprocess, the real
OpenSSH client on a pseudo-terminal read through pyte, changes committed by
other processes (the `warroom` command line), a real SQLite file (and a
PostgreSQL server of the test's own, to take away and bring back).
"""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path

import pytest
from sqlmodel import select

from tests.pg import PgServer
from tests.test_ssh import Room, _room
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.domain.lifecycle import DeployState
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.store.queries import current_release, load_snapshot
from warroom.testing.ssh import (
    Terminal,
    alive,
    first_frame,
    highlighted_service,
    is_drawn,
    serve_ssh,
    ssh_argv,
    ssh_session,
    wait_all,
    warroom,
)

pytestmark = pytest.mark.slow

DOWN, UP = "\x1b[B", "\x1b[A"


@pytest.fixture
def room(tmp_path: Path, db_path: Path) -> Room:
    return _room(tmp_path, f"sqlite:///{db_path}")


def test_a_change_from_another_process_reaches_every_session_through_one_reader(
    room: Room,
) -> None:
    with serve_ssh(room.db, room.folder) as server:
        mike = Terminal(ssh_argv(server.port, room.keys["mike"].path, "mike"))
        lisa = Terminal(ssh_argv(server.port, room.keys["lisa"].path, "lisa"))
        try:
            wait_all(
                [mike, lisa],
                lambda: (
                    is_drawn(mike, "mike", "team lead, backend")
                    and is_drawn(lisa, "lisa", "on-call, backend")
                ),
                "both war rooms",
            )
            # Another process commits (the command line, as sarah).
            warroom("say", "--as", "sarah", "--db", room.db, "auth looks fine from here")
            wait_all(
                [mike, lisa],
                lambda: (
                    "auth looks fine from here" in mike.text()
                    and "auth looks fine from here" in lisa.text()
                ),
                "the message in both sessions",
            )
        finally:
            mike.close()
            lisa.close()
    # The server did the reading: a handful of reads for two sessions and a
    # change (start-up, the connects' presence, the message), and no session
    # fell behind.
    (line,) = [line for line in server.lines if "the room was read" in line]
    match = re.search(r"read (\d+) times", line)
    assert match is not None and int(match.group(1)) >= 2
    assert not any("fell behind" in line for line in server.lines)


def test_a_session_that_stops_taking_reads_does_not_hold_up_the_other(
    room: Room, clock: FixedClock
) -> None:
    with serve_ssh(room.db, room.folder) as server:
        lisa = Terminal(ssh_argv(server.port, room.keys["lisa"].path, "lisa"))
        mike = Terminal(ssh_argv(server.port, room.keys["mike"].path, "mike"))
        lisa_app = 0
        try:
            first_frame(lisa, "lisa", "on-call, backend")
            first_frame(mike, "mike", "team lead, backend")
            lisa_app = next(pid for pid, who in server.sessions().items() if who == "lisa")
            # lisa's app stops (as if its machine stalled): it reads nothing
            # more from the server, whose buffer for her fills up.
            os.kill(lisa_app, signal.SIGSTOP)
            store = Store(room.db)
            try:
                sarah = Commands(store, clock, "sarah")
                # More than the server's buffer for her holds (a few changes' worth).
                for number in range(400):
                    sarah.post_message(f"status update {number:03d} " + "x" * 250)
            finally:
                store.dispose()
            # mike's room keeps up with every change and answers his keys.
            mike.wait_for_text("status update 399")
            mike.send("?")
            mike.wait_for_text("warroom keys")
            # lisa's app goes on: it gets the newest room at once, not the backlog.
            os.kill(lisa_app, signal.SIGCONT)
            lisa.wait_for_text("status update 399", timeout=30)
        finally:
            if lisa_app and alive(lisa_app):
                os.kill(lisa_app, signal.SIGCONT)
            lisa.close()
            mike.close()
        # Her server side kept one frame waiting, not 120: it said she skipped some.
        server.wait_for_line(r"lisa: session \w+ ended .*fell behind and skipped \d+ reads")


def test_the_readers_database_going_away_shows_disconnected_then_recovers(
    own_pg: PgServer, tmp_path: Path
) -> None:
    own_pg.admin("CREATE DATABASE warroom")
    room = _room(tmp_path, own_pg.url("warroom"))
    with (
        serve_ssh(room.db, room.folder) as server,
        # Wide: the header has room for the connection state.
        ssh_session(server.port, room.keys["mike"].path, "mike", columns=200) as mike,
    ):
        first_frame(mike, "mike", "team lead, backend")
        mike.wait_for_text("● live")
        own_pg.stop("fast")
        mike.wait_for_text("disconnected — retrying")
        server.wait_for_line("cannot read the room for the sessions")
        own_pg.start()
        mike.wait_for_text("● live", timeout=60)
        # Changes flow again, through the server's reader.
        warroom("say", "--as", "sarah", "--db", room.db, "back after the restart")
        mike.wait_for_text("back after the restart")


def test_a_key_acts_on_the_highlighted_service_while_the_room_changes(
    room: Room, clock: FixedClock
) -> None:
    store = Store(room.db)
    sarah = Commands(store, clock, "sarah")
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        sarah.set_items([item.key for item in load_snapshot(session, release).all_items], True)
    sarah.decide("go")
    stop = threading.Event()

    def chatter() -> None:  # the room keeps changing while sarah moves and acts
        number = 0
        while not stop.wait(0.1):
            sarah.post_message(f"chatter {number}")
            number += 1

    talker = threading.Thread(target=chatter, daemon=True)
    try:
        with (
            # In the deploy window (the commands above ran at 13:20).
            serve_ssh(room.db, room.folder, env={"WARROOM_NOW": "2024-03-20T14:05:00Z"}) as server,
            ssh_session(server.port, room.keys["sarah"].path, "sarah") as term,
        ):
            first_frame(term, "sarah", "release manager, ops")
            talker.start()
            term.send("2")  # the deploy table
            term.wait_for(lambda: highlighted_service(term) == "api-gateway", "api-gateway")
            term.send(DOWN)
            term.wait_for(lambda: highlighted_service(term) == "auth-service", "auth-service")
            term.wait_for_text("chatter 5")  # reads arrived since: the cursor stays put
            assert highlighted_service(term) == "auth-service"
            term.send("s")  # start auth-service: it waits on api-gateway, and is refused
            term.wait_for_text("api-gateway")
            term.wait_for(lambda: "Refused" in term.text(), "the refusal")
            assert "auth-service" in term.text()
            term.send(UP)
            term.wait_for(lambda: highlighted_service(term) == "api-gateway", "api-gateway")
            term.send("s")

            def started() -> bool:
                with store.read() as session:
                    row = session.exec(
                        select(m.Service).where(m.Service.name == "api-gateway")
                    ).one()
                    return row.state is not DeployState.WAITING

            term.wait_for(started, "api-gateway started from the session")
            with store.read() as session:
                rows = {s.name: s.state for s in session.exec(select(m.Service)).all()}
            assert rows["auth-service"] is DeployState.WAITING
    finally:
        stop.set()
        if talker.is_alive():
            talker.join(10)
        store.dispose()
