"""The SSH front door end to end: the real OpenSSH client against `warroom serve-ssh`.

Every test starts its own server on 127.0.0.1 (a port it picks itself) on a
copy of the sample plan whose people carry keys made by ssh-keygen, runs
`ssh` on a pseudo-terminal and reads the screen through pyte. The apps run
with a pinned clock ($WARROOM_NOW), so what they draw is stable.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from sqlmodel import col, select

from tests.tui_support import SIZE, make_app
from tests.tui_support import wait_until as app_wait_until
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.store import models as m
from warroom.store.engine import Store
from warroom.testing.ssh import (
    Key,
    Terminal,
    alive,
    children_of,
    first_frame,
    is_drawn,
    make_key,
    plan_with_keys,
    serve_ssh,
    ssh_argv,
    ssh_session,
    wait_all,
    wait_until,
    warroom,
)
from warroom.tui.app import WarroomApp

pytestmark = pytest.mark.slow

PEOPLE_WITH_KEYS = ("mike", "lisa", "sarah")


@dataclass(frozen=True)
class Room:
    folder: Path
    db: str
    keys: dict[str, Key]


def _room(folder: Path, db: str) -> Room:
    keys = {name: make_key(folder, name) for name in (*PEOPLE_WITH_KEYS, "stranger", "pat")}
    plan = plan_with_keys(folder, {name: [keys[name].public] for name in PEOPLE_WITH_KEYS})
    warroom("load", str(plan), "--as", "sarah", "--db", db)
    return Room(folder, db, keys)


@pytest.fixture
def room(tmp_path: Path, db_path: Path) -> Room:
    """The sample release on SQLite; mike, lisa and sarah have keys, stranger and pat do not."""
    return _room(tmp_path, f"sqlite:///{db_path}")


@pytest.fixture
def any_room(tmp_path: Path, db_url: str) -> Room:
    """The same on each backend (SQLite and a real PostgreSQL server)."""
    return _room(tmp_path, db_url)


def ssh_events(db: str) -> list[tuple[str, dict[str, Any]]]:
    store = Store(db)
    try:
        with store.read() as session:
            rows = session.exec(
                select(m.AuditEvent)
                .where(col(m.AuditEvent.action).startswith("ssh."))
                .order_by(col(m.AuditEvent.id))
            ).all()
            return [(row.action, json.loads(row.payload)) for row in rows]
    finally:
        store.dispose()


def wait_for_events(db: str, count: int, action: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        nonlocal found
        found = [payload for name, payload in ssh_events(db) if name == action]
        return len(found) >= count

    wait_until(enough, f"{count} {action} audit event(s)")
    return found


# ---------------------------------------------------------------- who gets in


def test_a_known_key_opens_the_war_room_as_its_owner(room: Room) -> None:
    with (
        serve_ssh(room.db, room.folder) as server,
        ssh_session(server.port, room.keys["mike"].path, "mike") as term,
    ):
        first_frame(term, "mike", "team lead, backend")
        # The room's presence marks SSH participants, in mike's own header too.
        term.wait_for_text("mike (ssh)")
        # The client's terminal type and size reached the session.
        server.wait_for_line(r"mike: session \w+ started \(xterm-256color, 120x36")


def test_a_user_name_outside_the_plan_gets_the_keys_owner(room: Room) -> None:
    # A laptop login like msmith names nobody in the plan: the key decides.
    with (
        serve_ssh(room.db, room.folder) as server,
        ssh_session(server.port, room.keys["lisa"].path, "msmith") as term,
    ):
        first_frame(term, "lisa", "on-call, backend")


def test_an_unknown_key_is_turned_away(room: Room) -> None:
    with (
        serve_ssh(room.db, room.folder) as server,
        ssh_session(server.port, room.keys["stranger"].path, "mike") as term,
    ):
        assert term.wait_exit() == 255
        output = term.output()
        assert "Permission denied (publickey)" in output
        assert "is not known here" in output
        assert "team lead" not in output
        assert not any("session" in line for line in server.lines)
    (refusal,) = wait_for_events(room.db, 1, "ssh.refused")
    assert refusal["user"] == "mike"
    assert refusal["address"] == "127.0.0.1"
    assert refusal["fingerprints"] == [room.keys["stranger"].fingerprint]
    assert "unknown key" in refusal["reason"]


def test_a_key_cannot_claim_another_person(room: Room) -> None:
    with (
        serve_ssh(room.db, room.folder) as server,
        ssh_session(server.port, room.keys["mike"].path, "sarah") as term,
    ):
        assert term.wait_exit() == 255
        assert "this key does not belong to sarah" in term.output()
    (refusal,) = wait_for_events(room.db, 1, "ssh.refused")
    assert refusal["user"] == "sarah"
    assert refusal["person"] == "mike"
    assert refusal["fingerprints"] == [room.keys["mike"].fingerprint]


def test_passwords_and_keyboard_interactive_are_refused(room: Room) -> None:
    with serve_ssh(room.db, room.folder) as server:
        # The real client, offering nothing but passwords: the server lists
        # publickey as the only way to continue.
        with ssh_session(
            server.port,
            None,
            "mike",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ) as term:
            assert term.wait_exit() == 255
            assert "Permission denied (publickey)." in term.output()

        async def try_password() -> tuple[list[str], bool]:
            methods = await asyncssh.get_server_auth_methods(
                "127.0.0.1", server.port, "mike", config=None
            )
            try:
                async with asyncssh.connect(
                    "127.0.0.1",
                    server.port,
                    username="mike",
                    password="hunter2",
                    client_keys=None,
                    agent_path=None,
                    known_hosts=None,
                    config=None,
                    preferred_auth="password,keyboard-interactive",
                ):
                    return list(methods), True
            except asyncssh.PermissionDenied:
                return list(methods), False

        methods, got_in = asyncio.run(try_password())
        assert methods == ["publickey"]
        assert not got_in
    refusals = wait_for_events(room.db, 2, "ssh.refused")
    assert all("no public key offered" in r["reason"] for r in refusals)


def test_keys_from_the_extra_file_and_a_newly_loaded_plan_apply_at_once(room: Room) -> None:
    extra = room.folder / "extra_keys"
    extra.write_text("# nobody yet\n", encoding="utf-8")
    with serve_ssh(room.db, room.folder, "--authorized-keys", str(extra)) as server:
        with ssh_session(server.port, room.keys["pat"].path, "pat") as term:
            assert term.wait_exit() == 255
        # Added while the server runs: read again on the next connection.
        extra.write_text(f"warroom-person=pat {room.keys['pat'].public}\n", encoding="utf-8")
        with ssh_session(server.port, room.keys["pat"].path, "pat") as term:
            first_frame(term, "pat", "observer, support")
        # A new release loaded (stranger is now tom): the next connection knows it.
        plan = plan_with_keys(
            room.folder, {"tom": [room.keys["stranger"].public]}, release="v2.6.0", name="v26.yaml"
        )
        warroom("load", str(plan), "--as", "sarah", "--db", room.db)
        with ssh_session(server.port, room.keys["stranger"].path, "tom") as term:
            first_frame(term, "tom", "team lead, infra")
            assert "v2.6.0" in term.screen.display[0]


# ---------------------------------------------------------------- the session


def test_a_resize_reaches_the_app(room: Room) -> None:
    with (
        serve_ssh(room.db, room.folder) as server,
        ssh_session(server.port, room.keys["mike"].path, "mike", columns=100, rows=30) as term,
    ):
        first_frame(term, "mike", "team lead, backend")
        assert _footer_ends_at(term, 100)
        term.resize(140, 40)
        term.wait_for(
            lambda: _footer_ends_at(term, 140) and "mike" in term.screen.display[0],
            "the app to lay itself out at 140x40",
        )


def _footer_ends_at(term: Terminal, columns: int) -> bool:
    """The footer's right-hand end ("^p palette ") sits at the window's right edge."""
    footer = term.screen.display[-1]
    return footer.rstrip().endswith("palette") and len(footer.rstrip()) == columns - 1


DOWN = "\x1b[B"  # the arrow key, as a terminal sends it


def _check_item_over_ssh(term: Terminal, key: str, downs: int) -> None:
    """Focus the go/no-go pane, move `downs` rows from its first item, press space.

    The pane opens with its cursor on the first item (gng-1); keys are
    handled in order, so counting rows is exact however slow the machine is.
    """
    term.send("4")  # focus the go/no-go pane
    term.wait_for_text("space Check/uncheck")  # the pane has focus: its keys are in the footer
    term.send(DOWN * downs + " ")
    # The tick in the pane, not the toast: a toast can come and go between two
    # looks at a busy machine's screen.
    term.wait_for_text(f"☑ {key}")


# From gng-1: gng-2..gng-8 (7), "Team infra", infra-1..infra-6 (6), "Team backend", backend-1.
DOWNS_TO_BACKEND_1 = 7 + 1 + 6 + 1 + 1


async def test_an_action_over_ssh_shows_up_in_a_local_app(
    any_room: Room, clock: FixedClock
) -> None:
    room = any_room
    app = make_app(room.db, "sarah", clock)
    async with app.run_test(size=SIZE) as pilot:
        await app_wait_until(pilot, lambda: app.snapshot is not None, "the local app's first read")

        def done_by(snapshot_app: WarroomApp, key: str) -> str | None:
            snapshot = snapshot_app.snapshot
            if snapshot is None:
                return None
            item = next(i for i in snapshot.all_items if i.key == key)
            return item.done_by if item.done else None

        with serve_ssh(room.db, room.folder) as server:
            term = await asyncio.to_thread(
                Terminal,
                ssh_argv(server.port, room.keys["mike"].path, "mike"),
            )
            try:
                await asyncio.to_thread(first_frame, term, "mike", "team lead, backend")
                await asyncio.to_thread(_check_item_over_ssh, term, "backend-1", DOWNS_TO_BACKEND_1)
                # The local app follows the change feed: no keypress, no reload by hand.
                await app_wait_until(
                    pilot, lambda: done_by(app, "backend-1") == "mike", "backend-1 checked by mike"
                )
                # And sees mike in the room, marked as an SSH participant.
                await app_wait_until(
                    pilot,
                    lambda: any(p.person == "mike" and p.via == "ssh" for p in app.present),
                    "mike (ssh) in the room",
                    tries=500,
                )
                # mike may not record the decision: the app says so, over SSH.
                term.send("g")
                await asyncio.to_thread(term.wait_for_text, "may not record the go/no-go")
            finally:
                await asyncio.to_thread(term.close)
    store = Store(room.db)
    try:
        with store.read() as session:
            row = session.exec(
                select(m.ChecklistItem).where(m.ChecklistItem.key == "backend-1")
            ).one()
            assert row.done_by == "mike"
    finally:
        store.dispose()


def test_several_people_at_once_and_closing_one_window_ends_only_that_session(room: Room) -> None:
    with serve_ssh(room.db, room.folder) as server:
        # Wide windows: the header lists everyone in the room.
        sessions = {
            name: Terminal(ssh_argv(server.port, room.keys[name].path, name), columns=200)
            for name in PEOPLE_WITH_KEYS
        }
        try:
            roles = {"mike": "team lead, backend", "lisa": "on-call, backend"}
            roles["sarah"] = "release manager, ops"
            wait_all(
                list(sessions.values()),
                lambda: all(is_drawn(sessions[n], n, roles[n]) for n in PEOPLE_WITH_KEYS),
                "everyone's war room",
            )
            # One app process each (whether it started warm or cold).
            apps = server.sessions()
            assert sorted(apps.values()) == sorted(PEOPLE_WITH_KEYS)
            assert all(os.getsid(pid) == pid for pid in apps)  # each on its own terminal
            # Everyone sees everyone, marked as SSH participants (heartbeats every 5 s).
            mike = sessions["mike"]
            wait_all(
                list(sessions.values()),
                lambda: (
                    "lisa (ssh)" in mike.screen.display[0]
                    and "sarah (ssh)" in mike.screen.display[0]
                ),
                "lisa and sarah in mike's header",
            )
            lisa_pid = next(pid for pid, person in apps.items() if person == "lisa")
            sessions["lisa"].close()
            wait_until(lambda: not alive(lisa_pid), "lisa's app to end")
            assert sorted(server.sessions().values()) == ["mike", "sarah"]
            # The others carry on: mike's app still answers keys.
            mike.send("?")
            mike.wait_for_text("warroom keys")
            (gone,) = wait_for_events(room.db, 1, "ssh.disconnect")
            assert gone["person"] == "lisa"
        finally:
            for term in sessions.values():
                term.close()


def test_a_stuck_client_does_not_hold_up_the_others(room: Room, clock: FixedClock) -> None:
    with serve_ssh(room.db, room.folder) as server:
        lisa = Terminal(ssh_argv(server.port, room.keys["lisa"].path, "lisa"))
        mike = Terminal(ssh_argv(server.port, room.keys["mike"].path, "mike"))
        try:
            first_frame(lisa, "lisa", "on-call, backend")
            first_frame(mike, "mike", "team lead, backend")
            # lisa's laptop freezes: her client reads nothing more.
            os.kill(lisa.process.pid, signal.SIGSTOP)
            store = Store(room.db)
            try:
                sarah = Commands(store, clock, "sarah")
                for number in range(150):
                    sarah.post_message(f"status update {number:03d} " + "x" * 60)
            finally:
                store.dispose()
            # mike's room keeps up with every change and answers his keys.
            mike.wait_for_text("status update 149")
            mike.send("?")
            mike.wait_for_text("warroom keys")
            # lisa's laptop wakes up: her session catches up, it was only waiting.
            os.kill(lisa.process.pid, signal.SIGCONT)
            lisa.wait_for_text("status update 149", timeout=30)
        finally:
            os.kill(lisa.process.pid, signal.SIGCONT)
            lisa.close()
            mike.close()


def test_a_full_room_says_why(room: Room) -> None:
    with serve_ssh(room.db, room.folder, "--max-sessions", "1") as server:
        with ssh_session(server.port, room.keys["mike"].path, "mike") as mike:
            first_frame(mike, "mike", "team lead, backend")
            with ssh_session(server.port, room.keys["lisa"].path, "lisa") as lisa:
                assert lisa.wait_exit() == 1
                assert "the war room is full (1 SSH session)" in lisa.output()
            mike.send("\x11")  # ctrl+q: mike leaves, which frees the one session
            assert mike.wait_exit() == 0
        wait_until(lambda: server.sessions() == {}, "every session's app to end")
    (refusal,) = wait_for_events(room.db, 1, "ssh.refused")
    assert refusal["person"] == "lisa"
    assert refusal["reason"] == "all 1 SSH session in use"


def test_an_idle_session_is_closed_and_told_why(room: Room) -> None:
    # Its own server: with the session limit in the same test, a machine slow
    # enough to take 3 s to start lisa's ssh closed mike first, and lisa got in.
    with serve_ssh(room.db, room.folder, "--idle-timeout", "3s") as server:
        with ssh_session(server.port, room.keys["mike"].path, "mike") as mike:
            first_frame(mike, "mike", "team lead, backend")
            # mike typed nothing: after 3 s his app ends and he is told why.
            assert mike.wait_exit(timeout=30) == 0
            assert "closed after 3s without a keypress" in mike.output()
        wait_until(lambda: server.sessions() == {}, "every session's app to end")
    (disconnect,) = wait_for_events(room.db, 1, "ssh.disconnect")
    assert disconnect["person"] == "mike" and disconnect["why"] == "idle"


def test_connects_disconnects_and_refusals_are_audited(room: Room) -> None:
    with serve_ssh(room.db, room.folder) as server:
        with ssh_session(server.port, room.keys["mike"].path, "mike") as term:
            first_frame(term, "mike", "team lead, backend")
            term.send("\x11")  # ctrl+q: mike leaves
            assert term.wait_exit() == 0
        with ssh_session(server.port, room.keys["stranger"].path, "lisa") as term:
            assert term.wait_exit() == 255
    connect = wait_for_events(room.db, 1, "ssh.connect")[0]
    disconnect = wait_for_events(room.db, 1, "ssh.disconnect")[0]
    refused = wait_for_events(room.db, 1, "ssh.refused")[0]
    mike_print = room.keys["mike"].fingerprint
    assert connect["person"] == "mike" and connect["fingerprint"] == mike_print
    assert connect["address"] == "127.0.0.1" and connect["user"] == "mike"
    assert disconnect["connection"] == connect["connection"]
    assert disconnect["why"] == "quit" and disconnect["sessions"] == 1
    assert refused["fingerprints"] == [room.keys["stranger"].fingerprint]
    assert [name for name, _ in ssh_events(room.db)] == [
        "ssh.connect",
        "ssh.disconnect",
        "ssh.refused",
    ]
    assert "audit chain intact" in warroom("audit", "verify", "--db", room.db)
    # Presence is not left behind by a session that ended.
    store = Store(room.db)
    try:
        with store.read() as session:
            assert session.exec(select(m.Presence)).all() == []
    finally:
        store.dispose()


def test_sessions_are_forked_from_the_preloaded_app_or_started_from_scratch(room: Room) -> None:
    with serve_ssh(room.db, room.folder) as server:
        line = server.wait_for_line(r"app preloaded \(pid \d+\)")
        helper = int(re.search(r"pid (\d+)", line).group(1))  # type: ignore[union-attr]
        with ssh_session(server.port, room.keys["mike"].path, "mike") as term:
            first_frame(term, "mike", "team lead, backend")
            server.wait_for_line(r"mike: session \w+ started .*, forked\)")
            (app,) = server.sessions()
            # The app is the helper's child, in a session of its own on its own terminal.
            assert app in children_of(helper)
            assert os.getsid(app) == app
        # Killed, the helper is replaced; sessions go on being forked.
        os.kill(helper, signal.SIGKILL)
        server.wait_for_line("the preloaded app process exited")
        wait_until(
            lambda: sum("app preloaded" in x for x in server.lines) == 2, "a new preloaded app"
        )
        with ssh_session(server.port, room.keys["lisa"].path, "lisa") as term:
            first_frame(term, "lisa", "on-call, backend")
            server.wait_for_line(r"lisa: session \w+ started .*, forked\)")
    with (
        serve_ssh(room.db, room.folder, "--no-preload") as server,
        ssh_session(server.port, room.keys["lisa"].path, "lisa") as term,
    ):
        first_frame(term, "lisa", "on-call, backend")
        server.wait_for_line(r"lisa: session \w+ started .*, cold\)")
    assert not any("preloaded" in line for line in server.lines)


def test_apps_outlive_a_dead_preload_helper_and_still_end_cleanly(room: Room) -> None:
    with serve_ssh(room.db, room.folder) as server:
        line = server.wait_for_line(r"app preloaded \(pid \d+\)")
        helper = int(re.search(r"pid (\d+)", line).group(1))  # type: ignore[union-attr]
        with ssh_session(server.port, room.keys["mike"].path, "mike") as term:
            first_frame(term, "mike", "team lead, backend")
            (app,) = server.sessions()
            os.kill(helper, signal.SIGKILL)
            server.wait_for_line("the preloaded app process exited")
            term.send("?")  # mike's app never noticed
            term.wait_for_text("warroom keys")
            term.send("\x1b")
            term.wait_for(lambda: "warroom keys" not in term.text(), "the help to close")
            term.send("\x11")  # ctrl+q: it ends, and the server notices
            assert term.wait_exit() == 0
        wait_until(lambda: not alive(app), "mike's app to end")
        server.wait_for_line(r"mike: session \w+ ended")


def test_stopping_the_server_ends_sessions_and_says_why(room: Room) -> None:
    with (
        serve_ssh(room.db, room.folder) as server,
        ssh_session(server.port, room.keys["mike"].path, "mike") as term,
    ):
        first_frame(term, "mike", "team lead, backend")
        server.process.send_signal(signal.SIGTERM)
        assert term.wait_exit() == 0
        assert "the war room's SSH door is closing" in term.output()
        assert server.stop() == 0
    (gone,) = wait_for_events(room.db, 1, "ssh.disconnect")
    assert gone["why"] == "server stopped"
    assert "stopped" in server.lines[-1]
