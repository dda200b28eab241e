"""alert routes: the routes each occurrence took, for reports by route

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import Id, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_routes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("alert_id", Id, nullable=False),
        sa.Column("route", sa.String(256), nullable=False),
        sa.Column("escalation_policy", sa.String(128), nullable=False),
        sa.Column("routed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_routes"),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name="fk_alert_routes_alert_id_alerts",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("alert_id", "route", name="uq_alert_routes_alert_route"),
    )


def downgrade() -> None:
    op.drop_table("alert_routes")
