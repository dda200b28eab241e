"""alerts, their event history, and received webhooks

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import Id, Json, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alertname", sa.String(256), nullable=False, server_default=""),
        sa.Column("severity", sa.String(64), nullable=False, server_default=""),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("generator_url", sa.Text, nullable=False, server_default=""),
        sa.Column("group_key", sa.Text, nullable=False, server_default=""),
        sa.Column("extra", Json),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("acknowledged_by", sa.String(256)),
        sa.Column("resolved_by", sa.String(256)),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("fingerprint", "starts_at", name="uq_alerts_occurrence"),
    )
    op.create_index("ix_alerts_status_id", "alerts", ["status", "id"])
    op.create_index("ix_alerts_starts_at", "alerts", ["starts_at"])

    op.create_table(
        "alert_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("alert_id", Id, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(256)),
        sa.Column("note", sa.Text),
        sa.Column("request_id", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name="fk_alert_events_alert_id_alerts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id", "id"])

    op.create_table(
        "webhooks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.Column("receiver", sa.String(256), nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("truncated_alerts", sa.Integer, nullable=False),
        sa.Column("group_labels", Json, nullable=False),
        sa.Column("external_url", sa.Text, nullable=False),
        sa.Column("extra", Json),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
    )
    op.create_index("ix_webhooks_received_at", "webhooks", ["received_at"])


def downgrade() -> None:
    op.drop_table("webhooks")
    op.drop_table("alert_events")
    op.drop_table("alerts")
