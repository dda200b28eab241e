"""drills: the drills people asked for, so routing reads a drill's runbook and mode from them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import Id, Json, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("runbook", sa.String(128), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("alert_id", Id),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_drills"),
    )


def downgrade() -> None:
    op.drop_table("drills")
