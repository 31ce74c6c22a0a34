"""trigger rules you can trust: each rule's options, and the state they keep between samples

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00.000000

A rule's keep_firing_for, no_data (with inconclusive_after), dry_run and
error_limit, as its plan gave them; on each trigger, when a firing one
started to clear (keep_firing_for) and how many samples in a row had no
data or a failed probe. Rules loaded before keep their behaviour: every
new column is NULL, false or 0, which is what a plan without them says.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_rule", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keep_firing_for_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("no_data", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("inconclusive_after", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("error_limit", sa.Integer(), nullable=True))

    with op.batch_alter_table("trigger_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cleared_since", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("no_data_run", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("error_run", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("trigger_state", schema=None) as batch_op:
        batch_op.drop_column("error_run")
        batch_op.drop_column("no_data_run")
        batch_op.drop_column("cleared_since")

    with op.batch_alter_table("trigger_rule", schema=None) as batch_op:
        batch_op.drop_column("error_limit")
        batch_op.drop_column("dry_run")
        batch_op.drop_column("inconclusive_after")
        batch_op.drop_column("no_data")
        batch_op.drop_column("keep_firing_for_s")
