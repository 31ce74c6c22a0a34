"""Alembic environment: runs on the connection warroom hands it.

warroom calls Alembic itself (store/migrate.py) with an open connection whose
transaction already holds the write lock, so concurrent processes never
migrate the same database twice.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from warroom.store import models  # noqa: F401  (registers the tables)

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    raise SystemExit("run migrations through warroom (python -m warroom.store.migrate ...)")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
