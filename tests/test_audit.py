"""The hash-chained audit log: intact chains verify, every kind of tampering is caught."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from tests.conftest import read_snapshot
from tests.pg import PgServer
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.domain.plan import Plan
from warroom.store import audit
from warroom.store.engine import Store, StoreError


def verify(store: Store) -> audit.ChainReport:
    with store.read() as session:
        return audit.verify(session)


def _busy(store: Store, clock: FixedClock) -> Store:
    for index in range(5):
        Commands(store, clock, "mike").post_message(f"note {index}")
    Commands(store, clock, "mike").check_item("backend-1")
    return store


@pytest.fixture
def busy(sqlite_loaded: Store, clock: FixedClock) -> Store:
    """Seven events on SQLite, where tests can tamper with the file directly."""
    return _busy(sqlite_loaded, clock)


def tamper(db_path: Path, *statements: str) -> None:
    """What someone with the file could do: drop the guard triggers and edit."""
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER audit_event_no_update")
    conn.execute("DROP TRIGGER audit_event_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_intact_chain_verifies(loaded: Store, clock: FixedClock) -> None:
    store = _busy(loaded, clock)  # both backends
    report = verify(store)
    assert report.ok and report.events == 7
    assert read_snapshot(store).revision == 7


def test_each_event_links_to_the_previous_one(busy: Store) -> None:
    with busy.read() as session:
        from sqlmodel import select

        from warroom.store.models import AuditEvent

        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    assert events[0].prev_hash == audit.GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert '"text":"note 0"' in events[1].payload and events[1].actor == "mike"


def test_database_refuses_to_rewrite_audit_events(busy: Store) -> None:
    conn = sqlite3.connect(busy.sqlite_path)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_event SET actor = 'sarah' WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_event WHERE id = 2")
    conn.close()
    assert verify(busy).ok


def test_a_modified_event_is_detected(busy: Store, db_path: Path) -> None:
    tamper(
        db_path,
        "UPDATE audit_event SET payload = replace(payload, 'note 2', 'note X') WHERE id = 4",
    )
    report = verify(busy)
    assert not report.ok and report.problem is not None
    assert report.problem.event_id == 4 and report.events == 3
    assert "does not match its hash" in report.problem.message


def test_a_rehashed_forgery_breaks_the_next_link(busy: Store, db_path: Path) -> None:
    """Recomputing the forged event's own hash is not enough: the next event points at the old one."""
    with busy.read() as session:
        from warroom.store.models import AuditEvent

        event = session.get(AuditEvent, 4)
        assert event is not None
        forged_payload = event.payload.replace("note 2", "note X")
        forged = audit.event_hash(
            event.id,
            event.at,
            event.actor,
            event.action,
            event.release_id,
            forged_payload,
            event.prev_hash,
        )
    tamper(
        db_path,
        f"UPDATE audit_event SET payload = '{forged_payload}', hash = '{forged}' WHERE id = 4",
    )
    report = verify(busy)
    assert report.problem is not None and report.problem.event_id == 5
    assert "does not follow the event before it" in report.problem.message


def test_a_deleted_event_is_detected(busy: Store, db_path: Path) -> None:
    tamper(db_path, "DELETE FROM audit_event WHERE id = 3")
    report = verify(busy)
    assert report.problem is not None and report.problem.event_id == 3
    assert "is missing" in report.problem.message


def test_events_cut_off_the_end_are_detected(busy: Store, db_path: Path) -> None:
    tamper(db_path, "DELETE FROM audit_event WHERE id >= 6")
    report = verify(busy)
    assert report.problem is not None and "cut off the end" in report.problem.message


def test_audit_ids_cannot_collide(busy: Store) -> None:
    """Two events with one id would fork the chain; the primary key forbids it."""
    from warroom.store.models import AuditEvent

    with pytest.raises((IntegrityError, StoreError)), busy.write() as session:
        session.add(
            AuditEvent(
                id=2,
                at=read_snapshot(busy).release.loaded_at,
                actor="x",
                action="x",
                payload="{}",
                prev_hash="0",
                hash="0",
            )
        )
        session.flush()


def test_postgres_refuses_rewrites_and_a_forgery_is_found(
    pg_server: PgServer, clock: FixedClock, sample_plan: Plan, sample_text: str
) -> None:
    """The same guarantees on PostgreSQL: a trigger refuses UPDATE, and a
    superuser who disables it is still caught by the chain."""
    import psycopg

    from warroom.commands.load import load_plan

    name = pg_server.create_database(template="warroom_template")
    store = Store(pg_server.url(name))
    try:
        load_plan(store, sample_plan, sample_text, loaded_by="sarah", clock=clock)
        _busy(store, clock)
        conninfo = pg_server.url(name).replace("+psycopg", "")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute("UPDATE audit_event SET actor = 'sarah' WHERE id = 2")
            conn.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
            conn.execute(
                "UPDATE audit_event SET payload = replace(payload, 'note 2', 'note X') WHERE id = 4"
            )
        report = verify(store)
        assert report.problem is not None and report.problem.event_id == 4
    finally:
        store.dispose()
        pg_server.drop_database(name)
