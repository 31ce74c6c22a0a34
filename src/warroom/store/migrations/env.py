"""Alembic environment: runs on the connection warroom hands it.

warroom calls Alembic itself (store/migrate.py) with an open connection whose
transaction already holds the write lock, so concurrent processes never
migrate the same database twice.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlmodel import SQLModel

from warroom.store import models  # noqa: F401  (registers the tables)

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    raise SystemExit("run migrations through warroom (python -m warroom.store.migrate ...)")


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write plain SQLAlchemy types into migrations.

    A migration must not import today's models: it has to keep working after
    they change. UTCDateTime is a DateTime on disk, AutoString a String.
    """
    if type_ == "type":
        name = type(obj).__name__
        if name == "UTCDateTime":
            return "sa.DateTime()"
        if name == "AutoString":
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
