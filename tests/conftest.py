"""Shared fixtures: a fixed clock, real SQLite files, the sample plan loaded."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.pg import PgServer

if TYPE_CHECKING:
    from tests.tui_support import OpenRoom
from warroom.clock import FixedClock
from warroom.commands import CommandError, Commands
from warroom.commands.load import load_plan
from warroom.domain.plan import Plan, parse_plan_text
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.store.engine import Store
from warroom.store.migrate import ensure_schema
from warroom.store.queries import current_release, load_snapshot

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "release-v2.5.0.yaml"
# Ten minutes before the sample's go/no-go meeting.
T0 = datetime(2024, 3, 20, 13, 20, tzinfo=UTC)
# When the sample's deploy window opens: no deploy starts before it.
WINDOW_OPENS = datetime(2024, 3, 20, 14, 0, tzinfo=UTC)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than the cores. Many tests spend their time
    waiting on what they started (CLI processes, servers, ssh clients, a
    PostgreSQL), and the extra worker keeps the cores busy meanwhile."""
    return (os.cpu_count() or 1) + 1


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(scope="session")
def sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def sample_plan(sample_text: str) -> Plan:
    return parse_plan_text(sample_text, source=str(SAMPLE))


@pytest.fixture(scope="session", autouse=True)
def _audit_keys_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """PostgreSQL databases keep their audit keys under $XDG_CONFIG_HOME: a temporary one.

    Set in os.environ, so every warroom process a test starts finds the same keys.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
        patch.delenv("WARROOM_AUDIT_KEY_FILE", raising=False)
        yield


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, empty database file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "warroom.db"
    store = Store(f"sqlite:///{path}")
    ensure_schema(store)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for this test process, with a migrated template database."""
    server = PgServer()
    server.init()
    server.start()
    server.admin("CREATE DATABASE warroom_template")
    template = Store(server.url("warroom_template"))
    ensure_schema(template)
    template.dispose()
    yield server
    server.stop("immediate")
    server.remove()


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A PostgreSQL server of the test's own, for tests that stop and restart it."""
    server = PgServer()
    server.init()
    server.start()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # the test may have stopped it
        server.stop("immediate")
    server.remove()


@pytest.fixture
def db_path(tmp_path: Path, _migrated_template: Path) -> Path:
    """A fresh, migrated SQLite file (for tests about SQLite itself)."""
    path = tmp_path / "warroom.db"
    shutil.copyfile(_migrated_template, path)
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on each backend: the same behaviour tests run on both."""
    if request.param == "sqlite":
        yield f"sqlite:///{request.getfixturevalue('db_path')}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = server.create_database(template="warroom_template")
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    yield store
    store.dispose()


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{db_path}")
    yield store
    store.dispose()


def _load(store: Store, plan: Plan, text: str, clock: FixedClock) -> Store:
    load_plan(store, plan, text, loaded_by="sarah", clock=clock)
    return store


@pytest.fixture
def loaded(store: Store, sample_plan: Plan, sample_text: str, clock: FixedClock) -> Store:
    return _load(store, sample_plan, sample_text, clock)


@pytest.fixture
def sqlite_loaded(
    sqlite_store: Store, sample_plan: Plan, sample_text: str, clock: FixedClock
) -> Store:
    """The sample loaded into a SQLite file (`db_path`): for SQLite-only tests."""
    return _load(sqlite_store, sample_plan, sample_text, clock)


@pytest.fixture
def as_(loaded: Store, clock: FixedClock) -> Callable[[str], Commands]:
    """`as_("lisa").complete_step(...)`: commands acting as a person."""
    return lambda name: Commands(loaded, clock, name)


def read_snapshot(store: Store) -> ReleaseSnapshot:
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        return load_snapshot(session, release)


def check_everything(store: Store, clock: FixedClock) -> None:
    """Every go/no-go and readiness item checked, by the release manager."""
    sarah = Commands(store, clock, "sarah")
    for item in read_snapshot(store).all_items:
        if not item.done:
            sarah.check_item(item.key)


@pytest.fixture
def go(loaded: Store, clock: FixedClock) -> Store:
    """The sample release with every checklist item checked and GO recorded
    (at 13:20), and the clock at 14:00, when the deploy window opens."""
    check_everything(loaded, clock)
    Commands(loaded, clock, "sarah").decide("go", rationale="all teams ready")
    clock.set(WINDOW_OPENS)
    return loaded


def table_counts(store: Store) -> dict[str, int]:
    """Row counts of every table: a refused command must leave these unchanged."""
    from sqlalchemy import inspect, text

    with store.engine.connect() as conn:
        names = inspect(conn).get_table_names()
        return {
            name: conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
            for name in names
        }


def fingerprint(store: Store) -> tuple[dict[str, int], ReleaseSnapshot]:
    return table_counts(store), read_snapshot(store)


def refused(store: Store, action: Callable[[], object], *phrases: str) -> str:
    """Run `action`, expect a refusal containing `phrases`, and that nothing changed."""
    before = fingerprint(store)
    with pytest.raises(CommandError) as info:
        action()
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, message
    assert fingerprint(store) == before, "a refused command wrote something"
    return message


@pytest.fixture
def open_room(db_url: str, clock: FixedClock) -> OpenRoom:
    """`async with open_room("lisa") as (app, pilot)`: the war room on `db_url`
    as lisa, started and showing the store's latest revision."""
    from tests.tui_support import room_opener

    return room_opener(db_url, clock)
