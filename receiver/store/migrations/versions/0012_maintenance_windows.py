"""maintenance_windows: maintenance windows made at run time

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import Id, Json, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("matchers", Json, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("starts_at", UTCDateTime()),
        sa.Column("ends_at", UTCDateTime()),
        sa.Column("rrule", sa.Text()),
        sa.Column("cron", sa.String(128)),
        sa.Column("duration_seconds", sa.Integer()),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("silence", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
        sa.Column("ended_by", sa.String(256)),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_windows"),
    )
    op.create_index("ix_maintenance_windows_name", "maintenance_windows", ["name"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_windows_name", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
