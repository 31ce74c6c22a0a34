"""The shared store on a real SQLite file, including several OS processes at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests import _workers
from tests.conftest import read_snapshot
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.domain.lifecycle import DeployState
from warroom.store import audit
from warroom.store.engine import Store, StoreError, StoreUnavailable, normalise_url, resolve_url
from warroom.store.migrate import HEAD_REVISION, current_revision, ensure_schema

SPAWN = multiprocessing.get_context("spawn")


def _run(target: Any, argsets: list[tuple[Any, ...]]) -> list[Any]:
    """Start one process per argset, release them together, collect one result each."""
    start = SPAWN.Event()
    out = SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(*args, start, out)) for args in argsets]
    for proc in procs:
        proc.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return results


def test_sqlite_is_opened_in_wal_mode_with_a_busy_timeout(sqlite_store: Store) -> None:
    store = sqlite_store
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_write_transactions_begin_immediate(sqlite_store: Store) -> None:
    """A write transaction holds the write lock before its first write."""
    store = sqlite_store
    assert store.sqlite_path is not None
    with store.write() as session:
        session.connection()  # the BEGIN happens here
        other = sqlite3.connect(store.sqlite_path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_database_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARROOM_DB", raising=False)
    assert resolve_url(None) == "sqlite:///warroom.db"
    monkeypatch.setenv("WARROOM_DB", "sqlite:////tmp/env.db")
    assert resolve_url(None) == "sqlite:////tmp/env.db"
    assert resolve_url("sqlite:////tmp/flag.db") == "sqlite:////tmp/flag.db"


def test_urls_are_checked_and_postgres_gets_psycopg() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        normalise_url("mysql://u@h/db")
    with pytest.raises(StoreError, match="bad database URL"):
        normalise_url("not a url")


def test_missing_folder_and_missing_file_are_explained(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist"):
        Store(f"sqlite:///{tmp_path}/nope/warroom.db")
    with pytest.raises(StoreUnavailable) as missing:
        Store(f"sqlite:///{tmp_path}/warroom.db", create_missing=False)
    assert f"warroom --db sqlite:///{tmp_path}/warroom.db load PLAN --as MANAGER" in str(
        missing.value
    )


def test_times_come_back_timezone_aware_utc(loaded: Store) -> None:
    snapshot = read_snapshot(loaded)
    assert snapshot.release.window_start.utcoffset() is not None
    assert snapshot.release.window_start.isoformat() == "2024-03-20T14:00:00+00:00"


def test_two_processes_writing_at_once_lose_nothing(loaded: Store, db_url: str) -> None:
    url = db_url
    base = len(read_snapshot(loaded).log)
    count = 150
    results = _run(_workers.post_messages, [(url, "mike", count), (url, "lisa", count)])
    for person, errors in results:
        assert errors == [], f"{person}: {errors[:3]}"
    log = read_snapshot(loaded).log
    assert len(log) == base + 2 * count
    for person in ("mike", "lisa"):
        # Each process's messages all arrived, in the order it sent them.
        mine = [entry.text for entry in log if entry.author == person]
        assert mine == [f"{person} {index}" for index in range(count)]
    with loaded.read() as session:
        report = audit.verify(session, loaded.audit_keys)
    assert report.ok and report.events == 1 + 2 * count


def test_racing_to_check_the_same_items_yields_one_winner_each(loaded: Store, db_url: str) -> None:
    url = db_url
    keys = [item.key for item in read_snapshot(loaded).go_no_go] + [
        item.key for item in read_snapshot(loaded).readiness["backend"]
    ]
    results = _run(_workers.check_items, [(url, "sarah", keys), (url, "mike", keys[8:])])
    wins: list[str] = []
    for person, won, lost, errors in results:
        assert errors == [], f"{person}: {errors[:3]}"
        assert all("already checked by" in message for message in lost)
        wins.extend(won)
    assert sorted(wins) == sorted(keys), "every item checked exactly once"
    snapshot = read_snapshot(loaded)
    assert all(item.done for item in snapshot.go_no_go)
    with loaded.read() as session:
        report = audit.verify(session, loaded.audit_keys)
    assert report.ok and report.events == 1 + len(keys)


def test_processes_starting_on_a_new_file_migrate_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    assert _run(_workers.migrate, [(url,), (url,), (url,)]) == ["ok", "ok", "ok"]
    store = Store(url)
    with store.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM audit_head").scalar() == 1
    ensure_schema(store)  # and again is a no-op
    store.dispose()


def test_stepping_and_failing_at_once_one_wins_and_the_other_is_told(
    go: Store, db_url: str, clock: FixedClock
) -> None:
    """Both saw api-gateway deploying; one completes a step, the other fails it."""
    Commands(go, clock, "raj").start_deploy("api-gateway")
    seen = read_snapshot(go).service("api-gateway")
    assert seen is not None
    with go.read() as session:
        events_before = audit.verify(session, go.audit_keys).events
    results = _run(
        _workers.act,
        [
            (db_url, "raj", "complete_step", ("api-gateway",), seen.row_version),
            (db_url, "tom", "fail_deploy", ("api-gateway", "pods crash-looping"), seen.row_version),
        ],
    )
    outcomes = {method: (status, text) for method, status, text in results}
    assert sorted(status for status, _ in outcomes.values()) == ["ok", "refused"]
    loser = next(text for status, text in outcomes.values() if status == "refused")
    assert "changed while you were looking" in loser and "nothing was done" in loser
    state = read_snapshot(go).states["api-gateway"]
    if outcomes["complete_step"][0] == "ok":
        assert state is DeployState.DEPLOYING  # one step of four
    else:
        assert state is DeployState.FAILED
    with go.read() as session:
        report = audit.verify(session, go.audit_keys)
    assert report.ok and report.events == events_before + 1  # exactly the winner's change
