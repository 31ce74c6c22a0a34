"""Migrations and models must describe the same schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.load import load_plan
from warroom.domain.plan import Plan
from warroom.store.engine import Store
from warroom.store.migrate import HEAD_REVISION, _alembic_config, current_revision, ensure_schema


def test_head_revision_constant_matches_the_scripts() -> None:
    script = ScriptDirectory.from_config(_alembic_config())
    assert script.get_current_head() == HEAD_REVISION


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/m.db")
    ensure_schema(store)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    store.dispose()


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/m.db")
    ensure_schema(store)
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "base")
    with store.engine.connect() as conn:
        assert current_revision(conn) is None
        tables = {
            row[0]
            for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert tables <= {"alembic_version"}
    ensure_schema(store)
    with store.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
    store.dispose()


def test_an_older_database_with_a_release_upgrades_in_place(
    tmp_path: Path, sample_plan: Plan, sample_text: str, clock: FixedClock
) -> None:
    """A database last migrated by an older warroom keeps its data when opened by this one."""
    store = Store(f"sqlite:///{tmp_path}/old.db")
    ensure_schema(store)
    load_plan(store, sample_plan, sample_text, loaded_by="sarah", clock=clock)
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0001")
    with store.engine.connect() as conn:
        assert current_revision(conn) == "0001"
        assert conn.exec_driver_sql("SELECT name FROM release").scalar() == "v2.5.0"
    ensure_schema(store)  # what any warroom command does on opening it
    with store.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM checklist_item").scalar() == 29
    Commands(store, clock, "mike").post_message("after the upgrade")
    store.dispose()
