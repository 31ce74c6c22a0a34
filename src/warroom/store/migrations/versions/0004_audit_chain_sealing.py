"""seal the audit chain: the key's id and the head's seal on audit_head; no TRUNCATE on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000

The append-only row trigger of 0001 does not fire for TRUNCATE, which
emptied the log in one statement; a statement-level trigger refuses it.
Events already in the chain keep their plain SHA-256 hashes: the key file
made on the next write says which event is the first sealed one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("seal", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # The function of 0001 raises 'audit events are append-only'.
        op.execute(
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("seal")
        batch_op.drop_column("key_id")
