"""Schema creation and upgrades, through Alembic.

`ensure_schema` is called whenever warroom opens a database. Its fast path
reads one row (the Alembic revision) without importing Alembic at all, so
commands start quickly; only an empty or older database pays for a
migration, which runs inside a transaction that holds the write lock so two
processes starting at once cannot both migrate.

For developers: `python -m warroom.store.migrate revision "what changed"`
autogenerates the next migration from the models.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from warroom.store.engine import Store

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION = "0007"
MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x77617272  # "warr": any constant shared by every warroom process


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def _upgrade_locked(store: Store) -> None:
    from alembic import command

    with store.engine.connect() as conn:
        conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if store.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            if current_revision(conn) == HEAD_REVISION:
                return  # someone else migrated while we waited for the lock
            command.upgrade(_alembic_config(conn), "head")


def ensure_schema(store: Store) -> None:
    """Bring the database to the current schema; cheap when it already is."""
    try:
        with store.engine.connect() as conn:
            if current_revision(conn) == HEAD_REVISION:
                return
        _upgrade_locked(store)
    except DBAPIError as exc:
        raise store.describe(exc) from exc


def _revision(message: str) -> None:
    """Autogenerate the next migration against a scratch database at head."""
    from alembic import command

    with tempfile.TemporaryDirectory() as scratch:
        store = Store(f"sqlite:///{scratch}/scratch.db")
        ensure_schema(store)
        with store.engine.begin() as conn:
            config = _alembic_config(conn)
            kwargs: dict[str, Any] = {"message": message, "autogenerate": True}
            command.revision(config, **kwargs)
        store.dispose()


if __name__ == "__main__":  # pragma: no cover - developer tool
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        raise SystemExit('usage: python -m warroom.store.migrate revision "what changed"')
    _revision(sys.argv[2])
