"""executions by alert: the Slack message about an alert shows its runbooks' runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_executions_alert_id", "executions", ["alert_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_executions_alert_id", table_name="executions")
