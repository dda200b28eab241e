"""pagerduty events: the v3 webhook events already received, so a replay changes nothing

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pagerduty_events",
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("window_ends_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_pagerduty_events"),
    )
    op.create_index("ix_pagerduty_events_window_ends_at", "pagerduty_events", ["window_ends_at"])


def downgrade() -> None:
    op.drop_index("ix_pagerduty_events_window_ends_at", table_name="pagerduty_events")
    op.drop_table("pagerduty_events")
