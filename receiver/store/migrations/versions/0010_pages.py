"""pages: the people each escalation tier paged about an alert

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import Id, Json, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("alert_id", Id, nullable=False),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("paged_at", UTCDateTime(), nullable=False),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("route", sa.String(256), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(256), nullable=False),
        sa.Column("contacts", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_pages_alert_id_alerts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pages"),
        sa.UniqueConstraint(
            "alert_id",
            "route",
            "policy",
            "repeat",
            "tier",
            "person",
            name="uq_pages_alert_tier_person",
        ),
    )
    op.create_index("ix_pages_person_paged_at", "pages", ["person", "paged_at"])


def downgrade() -> None:
    op.drop_index("ix_pages_person_paged_at", table_name="pages")
    op.drop_table("pages")
