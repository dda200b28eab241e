"""slack_requests: the signed Slack requests seen inside their timestamp window (replays)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_requests",
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("signature", name="pk_slack_requests"),
    )
    op.create_index("ix_slack_requests_expires_at", "slack_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_requests_expires_at", table_name="slack_requests")
    op.drop_table("slack_requests")
