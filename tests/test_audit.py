"""The hash-chained audit log: intact chains verify, every kind of tampering is caught.

The attacker of these tests has the database (and drops its guard triggers)
but not the audit key file, unless a test says otherwise.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
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


def verify(store: Store, checkpoint: audit.Checkpoint | None = None) -> audit.ChainReport:
    with store.read() as session:
        return audit.verify(session, store.audit_keys, checkpoint)


def head(store: Store) -> audit.Checkpoint:
    report = verify(store)
    assert report.ok, report.problem
    return report.head


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
    conn.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
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


def rows(db_path: Path) -> list[tuple[int, str, str, str, int | None, str, str, str]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT id, at, actor, action, release_id, payload, prev_hash, hash "
            "FROM audit_event ORDER BY id"
        ).fetchall()


def recompute_from(db_path: Path, first: int, digest: Callable[[bytes], str]) -> None:
    """Rewrite every hash from event `first` on with `digest`, and the head to match."""
    from datetime import UTC, datetime

    statements = []
    prev = rows(db_path)[first - 2][7] if first > 1 else audit.GENESIS_HASH
    for event_id, at, actor, action, release_id, payload, _, _ in rows(db_path)[first - 1 :]:
        moment = datetime.fromisoformat(at).replace(tzinfo=UTC)
        material = audit._Link(
            event_id, moment, actor, action, release_id, payload, prev
        ).material()
        new = digest(material)
        statements.append(
            f"UPDATE audit_event SET prev_hash = '{prev}', hash = '{new}' WHERE id = {event_id}"
        )
        prev = new
    statements.append(f"UPDATE audit_head SET last_hash = '{prev}'")
    tamper(db_path, *statements)


def test_the_key_is_made_on_first_write_private_and_beside_the_database(
    busy: Store, db_path: Path
) -> None:
    key_file = db_path.with_name(db_path.name + ".audit-key")
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = busy.audit_keys.for_reading()
    assert key is not None and key.first_sealed == 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT key_id FROM audit_head").fetchone() == (key.key_id,)
    assert key.secret.hex() not in db_path.read_bytes().decode("latin-1")
    assert verify(busy).sealed


def test_a_forged_event_rehashed_without_the_key_is_caught(busy: Store, db_path: Path) -> None:
    """Recomputing the forged event's hash the way anyone could (plain SHA-256) does not hold."""
    event = rows(db_path)[3]
    forged_payload = event[5].replace("note 2", "note X")
    tamper(
        db_path,
        f"UPDATE audit_event SET payload = '{forged_payload}' WHERE id = 4",
    )
    recompute_from(db_path, 4, lambda material: hashlib.sha256(material).hexdigest())
    report = verify(busy)
    assert report.problem is not None and report.problem.event_id == 4 and report.events == 3
    assert "does not match its hash" in report.problem.message


@pytest.mark.parametrize("how", ["plain SHA-256", "a guessed key"])
def test_recomputing_the_whole_chain_after_an_edit_is_caught(
    busy: Store, db_path: Path, how: str
) -> None:
    guess = os.urandom(32)

    def digest(material: bytes) -> str:
        if how == "plain SHA-256":
            return hashlib.sha256(material).hexdigest()
        import hmac

        return hmac.new(guess, material, hashlib.sha256).hexdigest()

    tamper(db_path, "UPDATE audit_event SET actor = 'sarah' WHERE id = 2")
    recompute_from(db_path, 1, digest)
    report = verify(busy)
    assert report.problem is not None and report.problem.event_id == 1 and report.events == 0
    assert "without warroom's key" in report.problem.message


def test_the_tail_cut_off_and_the_head_moved_back_is_caught(busy: Store, db_path: Path) -> None:
    fifth = rows(db_path)[4]
    tamper(
        db_path,
        "DELETE FROM audit_event WHERE id >= 6",
        f"UPDATE audit_head SET last_id = 5, last_hash = '{fifth[7]}'",
    )
    report = verify(busy)
    assert report.problem is not None and report.events == 5
    assert "seal does not match" in report.problem.message and "after #5" in report.problem.message


def test_a_checkpoint_catches_the_tail_cut_off_with_an_old_head_put_back(
    sqlite_loaded: Store, db_path: Path, clock: FixedClock
) -> None:
    """An attacker who kept a copy of an older head row (seal and all) fools the database
    alone; a checkpoint taken later and kept elsewhere does not."""
    for index in range(4):
        Commands(sqlite_loaded, clock, "mike").post_message(f"note {index}")
    with sqlite3.connect(db_path) as conn:
        old_head = conn.execute("SELECT last_id, last_hash, seal FROM audit_head").fetchone()
    Commands(sqlite_loaded, clock, "mike").post_message("the message someone regrets")
    checkpoint = head(sqlite_loaded)
    assert checkpoint.events == 6
    assert verify(sqlite_loaded, checkpoint).ok
    tamper(
        db_path,
        "DELETE FROM audit_event WHERE id = 6",
        "UPDATE audit_head SET last_id = {}, last_hash = '{}', seal = '{}'".format(*old_head),
    )
    assert verify(sqlite_loaded).ok  # the limit of what the database alone can tell
    report = verify(sqlite_loaded, checkpoint)
    assert report.problem is not None and report.events == 5
    assert f"checkpoint {checkpoint}" in report.problem.message
    assert "cut off the end" in report.problem.message


def test_a_checkpoint_catches_a_rewrite_by_someone_with_the_key(busy: Store, db_path: Path) -> None:
    """With the database and the key, the chain can be re-forged; a checkpoint still holds."""
    checkpoint = head(busy)
    key = busy.audit_keys.for_reading()
    assert key is not None
    tamper(db_path, "UPDATE audit_event SET payload = replace(payload, 'note 1', 'note Y')")
    recompute_from(db_path, 1, key.mac)
    last = rows(db_path)[-1]
    tamper(db_path, f"UPDATE audit_head SET seal = '{audit.head_seal(key, last[0], last[7])}'")
    assert verify(busy).ok
    report = verify(busy, checkpoint)
    assert report.problem is not None and report.problem.event_id == checkpoint.events
    assert "was rewritten" in report.problem.message


def test_an_older_checkpoint_holds_on_a_longer_chain(busy: Store, clock: FixedClock) -> None:
    checkpoint = head(busy)
    Commands(busy, clock, "mike").post_message("later")
    report = verify(busy, checkpoint)
    assert report.ok and report.events == checkpoint.events + 1
    wrong = audit.Checkpoint(checkpoint.events, "f" * 64)
    report = verify(busy, wrong)
    assert report.problem is not None and report.problem.event_id == checkpoint.events


def test_checkpoints_are_read_strictly() -> None:
    good = audit.parse_checkpoint(" 7:" + "A" * 64 + "\n")
    assert good == audit.Checkpoint(7, "a" * 64)
    assert audit.parse_checkpoint(str(good)) == good
    for bad in ("", "7", "7:abc", "x:" + "a" * 64, "-1:" + "a" * 64):
        with pytest.raises(ValueError, match="not an audit checkpoint"):
            audit.parse_checkpoint(bad)


def test_emptying_the_log_and_resetting_the_head_is_caught(busy: Store, db_path: Path) -> None:
    tamper(
        db_path,
        "DELETE FROM audit_event",
        f"UPDATE audit_head SET last_id = 0, last_hash = '{audit.GENESIS_HASH}', "
        "key_id = NULL, seal = NULL",
    )
    report = verify(busy)
    assert report.problem is not None and report.events == 0
    assert "cut off the end" in report.problem.message


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        ("UPDATE audit_event SET at = 'not a date' WHERE id = 3", "its at is 'not a date'"),
        ("UPDATE audit_event SET payload = X'00ff' WHERE id = 3", "its payload is binary data"),
        ("UPDATE audit_event SET release_id = 'one' WHERE id = 3", "its release_id is 'one'"),
        ("UPDATE audit_event SET at = 17 WHERE id = 3", "its at is 17"),
    ],
)
def test_a_malformed_event_is_named_not_a_crash(
    busy: Store, db_path: Path, statement: str, words: str
) -> None:
    tamper(db_path, statement)
    report = verify(busy)
    assert report.problem is not None and report.problem.event_id == 3 and report.events == 2
    assert "audit event #3 is malformed" in report.problem.message
    assert words in report.problem.message


def test_an_event_with_missing_fields_is_named(busy: Store, db_path: Path) -> None:
    """The table rebuilt without its NOT NULL constraints, and a field emptied."""
    tamper(
        db_path,
        "CREATE TABLE loose AS SELECT * FROM audit_event",
        "DROP TABLE audit_event",
        "ALTER TABLE loose RENAME TO audit_event",
        "UPDATE audit_event SET actor = NULL WHERE id = 5",
    )
    report = verify(busy)
    assert report.problem is not None and report.problem.event_id == 5
    assert "its actor is missing" in report.problem.message


def test_a_writer_without_the_key_is_refused_and_writes_nothing(
    busy: Store, db_path: Path, clock: FixedClock
) -> None:
    key_file = db_path.with_name(db_path.name + ".audit-key")
    key_file.rename(db_path.with_name("elsewhere"))
    fresh = Store(f"sqlite:///{db_path}")  # a new process: it has not read the key yet
    try:
        before = rows(db_path)
        with pytest.raises(StoreError, match="no key file at"):
            Commands(fresh, clock, "mike").post_message("hello")
        assert rows(db_path) == before and not key_file.exists()
        report = verify(fresh)
        assert report.problem is not None and "no key file at" in report.problem.message
    finally:
        fresh.dispose()


def test_a_chain_written_before_keys_is_sealed_from_the_next_event_on(
    busy: Store, db_path: Path, clock: FixedClock
) -> None:
    """A database from a warroom without audit keys: its events keep plain hashes, and the
    key file, made on the next write, says where sealing starts."""
    recompute_from(db_path, 1, lambda material: hashlib.sha256(material).hexdigest())
    tamper(db_path, "UPDATE audit_head SET key_id = NULL, seal = NULL")
    db_path.with_name(db_path.name + ".audit-key").unlink()
    old = Store(f"sqlite:///{db_path}")
    try:
        report = verify(old)
        assert report.ok and report.events == 7 and not report.sealed
        Commands(old, clock, "mike").post_message("the first sealed event")
        key = old.audit_keys.for_reading()
        assert key is not None and key.first_sealed == 8
        report = verify(old)
        assert report.ok and report.events == 8 and report.sealed
        # The plain part cannot be stretched: event 8 re-hashed plainly does not pass.
        recompute_from(db_path, 8, lambda material: hashlib.sha256(material).hexdigest())
        assert verify(old).problem is not None
    finally:
        old.dispose()


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


@pytest.fixture
def pg_busy(
    pg_server: PgServer, clock: FixedClock, sample_plan: Plan, sample_text: str
) -> Iterator[tuple[Store, str]]:
    """Seven events on PostgreSQL, and a superuser's connection string to tamper with."""
    from warroom.commands.load import load_plan

    name = pg_server.create_database(template="warroom_template")
    store = Store(pg_server.url(name))
    try:
        load_plan(store, sample_plan, sample_text, loaded_by="sarah", clock=clock)
        _busy(store, clock)
        yield store, pg_server.url(name).replace("+psycopg", "")
    finally:
        store.dispose()
        pg_server.drop_database(name)


def test_postgres_refuses_truncate_and_a_truncated_log_is_caught(
    pg_busy: tuple[Store, str],
) -> None:
    import psycopg

    store, conninfo = pg_busy
    checkpoint = head(store)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("TRUNCATE audit_event")
        assert conn.execute("SELECT count(*) FROM audit_event").fetchone() == (7,)
        # A superuser can switch the guard off; the chain still tells.
        conn.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_truncate")
        conn.execute("TRUNCATE audit_event")
        conn.execute(
            "UPDATE audit_head SET last_id = 0, last_hash = %s, key_id = NULL, seal = NULL",
            (audit.GENESIS_HASH,),
        )
    report = verify(store)
    assert report.problem is not None and report.events == 0
    assert "cut off the end" in report.problem.message
    report = verify(store, checkpoint)
    assert report.problem is not None and f"checkpoint {checkpoint}" in report.problem.message


def test_postgres_tail_cut_off_and_head_moved_back_is_caught(pg_busy: tuple[Store, str]) -> None:
    import psycopg

    store, conninfo = pg_busy
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        conn.execute("DELETE FROM audit_event WHERE id >= 6")
        conn.execute(
            "UPDATE audit_head SET last_id = 5, "
            "last_hash = (SELECT hash FROM audit_event WHERE id = 5)"
        )
    report = verify(store)
    assert report.problem is not None and report.events == 5
    assert "seal does not match" in report.problem.message


@pytest.mark.parametrize(
    ("alter", "update", "words", "first_bad"),
    [
        ("ALTER COLUMN at TYPE text", "SET at = 'not a date'", "its at is 'not a date'", 3),
        (  # every payload is binary now: the first event is the first one named
            "ALTER COLUMN payload TYPE bytea USING convert_to(payload, 'UTF8')",
            "SET payload = '\\x00ff'::bytea",
            "its payload is binary data",
            1,
        ),
        ("ALTER COLUMN actor DROP NOT NULL", "SET actor = NULL", "its actor is missing", 3),
    ],
)
def test_postgres_malformed_events_are_named(
    pg_busy: tuple[Store, str], alter: str, update: str, words: str, first_bad: int
) -> None:
    import psycopg

    store, conninfo = pg_busy
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        conn.execute(f"ALTER TABLE audit_event {alter}")
        conn.execute(f"UPDATE audit_event {update} WHERE id = 3")
    report = verify(store)
    assert report.problem is not None and report.problem.event_id == first_bad
    assert f"audit event #{first_bad} is malformed" in report.problem.message
    assert words in report.problem.message
