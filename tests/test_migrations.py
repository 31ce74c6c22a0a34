"""Migrations and models must describe the same schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

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
