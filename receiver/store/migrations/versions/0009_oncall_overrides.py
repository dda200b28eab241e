"""oncall_overrides: who is on call for a schedule over its layers, made at run time

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import Id, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oncall_overrides",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(64), nullable=False),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_oncall_overrides_schedule", "oncall_overrides", ["schedule", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_oncall_overrides_schedule", table_name="oncall_overrides")
    op.drop_table("oncall_overrides")
