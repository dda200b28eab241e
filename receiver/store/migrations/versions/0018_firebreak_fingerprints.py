"""Alerts Firebreak raises itself keyed apart from webhooks': their fingerprints ``firebreak:``

Heartbeat and on-call gap alerts had fingerprints of ``fb`` and 14 hex digits, the shape of an
Alertmanager fingerprint, so a webhook posting one with its startsAt as resolved ended an alert
only Firebreak should end. New ones get ``firebreak:`` and the same 14 digits, a prefix
``/webhook`` refuses; this gives it to those stored before, so a heartbeat missing before the
upgrade is found (by its group) and resolved after it, and raised again under the same key.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# Only Firebreak raises alerts in these groups (``/webhook`` refuses the heartbeat group key);
# the old shape is checked too (substr, not LIKE: SQLite's ignores case), so anything else
# stored in them is left as it was.
_GROUPS = "('firebreak:heartbeats', 'firebreak:oncall_gap', 'firebreak:watchdog')"
_OLD_STYLE = (
    f"group_key IN {_GROUPS} AND substr(fingerprint, 1, 2) = 'fb' AND length(fingerprint) = 16"
)
# Back down, an occurrence a webhook has since stored under the old fingerprint (and startsAt)
# keeps its key: the one of Firebreak's is left with the prefix rather than made its duplicate.
_NEW_STYLE = (
    f"group_key IN {_GROUPS} AND substr(fingerprint, 1, 10) = 'firebreak:' AND NOT EXISTS "
    "(SELECT 1 FROM alerts AS other WHERE other.starts_at = alerts.starts_at "
    "AND other.fingerprint = 'fb' || substr(alerts.fingerprint, 11))"
)


def upgrade() -> None:
    op.execute(
        "UPDATE executions SET fingerprint = 'firebreak:' || substr(fingerprint, 3) "
        "WHERE substr(fingerprint, 1, 2) = 'fb' AND alert_id IN "
        f"(SELECT id FROM alerts WHERE {_OLD_STYLE})"
    )
    op.execute(
        f"UPDATE alerts SET fingerprint = 'firebreak:' || substr(fingerprint, 3) WHERE {_OLD_STYLE}"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE executions SET fingerprint = 'fb' || substr(fingerprint, 11) "
        "WHERE substr(fingerprint, 1, 10) = 'firebreak:' AND alert_id IN "
        f"(SELECT id FROM alerts WHERE {_NEW_STYLE})"
    )
    op.execute(
        f"UPDATE alerts SET fingerprint = 'fb' || substr(fingerprint, 11) WHERE {_NEW_STYLE}"
    )
