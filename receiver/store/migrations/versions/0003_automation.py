"""runbook automation: executions, their steps and transitions, automation settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import Id, Json, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("runbook", sa.String(128), nullable=False),
        sa.Column("alert_id", Id),
        sa.Column("fingerprint", sa.String(128)),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("trigger_context", Json, nullable=False),
        sa.Column("start_key", sa.String(512), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rollback_plan", Json),
        sa.Column("approved_by", sa.String(256)),
        sa.Column("cancel_reason", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
        sa.UniqueConstraint("start_key", name="uq_executions_start_key"),
    )
    op.create_index("ix_executions_runbook_state", "executions", ["runbook", "state"])
    op.create_index("ix_executions_fingerprint", "executions", ["fingerprint", "runbook"])

    op.create_table(
        "execution_steps",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("execution_id", Id, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("step_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("job_id", Id),
        sa.Column("inputs", Json),
        sa.Column("output", Json),
        sa.Column("error", sa.Text),
        sa.Column("decision", sa.String(16)),
        sa.Column("decided_by", sa.String(256)),
        sa.Column("decided_at", UTCDateTime()),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("duration_seconds", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_execution_steps"),
        sa.UniqueConstraint(
            "execution_id", "phase", "position", name="uq_execution_steps_position"
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name="fk_execution_steps_execution_id_executions",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "execution_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("execution_id", Id, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("from_state", sa.String(24)),
        sa.Column("to_state", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(256)),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_execution_events"),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name="fk_execution_events_execution_id_executions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_execution_events_execution_id", "execution_events", ["execution_id", "id"])

    op.create_table(
        "automation_settings",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", Json, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(256)),
        sa.PrimaryKeyConstraint("key", name="pk_automation_settings"),
    )


def downgrade() -> None:
    op.drop_table("automation_settings")
    op.drop_table("execution_events")
    op.drop_table("execution_steps")
    op.drop_table("executions")
