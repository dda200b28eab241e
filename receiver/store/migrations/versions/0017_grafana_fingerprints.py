"""Grafana's alerts keyed apart from Alertmanager's: their fingerprints stored with ``grafana:``

Grafana computes an alert's fingerprint from its labels as Alertmanager does, so the same labels
from both were one occurrence and either source's resolve ended the other's alert. New Grafana
alerts are stored with the prefix; this gives it to those stored before, so Grafana's resolve of
an alert that fired before the upgrade still finds it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The column holds 128 characters; a fingerprint too long for the prefix is left as it was.
_GRAFANA_ALERTS = (
    "group_key LIKE 'grafana:%' AND fingerprint NOT LIKE 'grafana:%' AND length(fingerprint) <= 120"
)


def upgrade() -> None:
    op.execute(
        "UPDATE executions SET fingerprint = 'grafana:' || fingerprint "
        f"WHERE alert_id IN (SELECT id FROM alerts WHERE {_GRAFANA_ALERTS})"
    )
    op.execute(f"UPDATE alerts SET fingerprint = 'grafana:' || fingerprint WHERE {_GRAFANA_ALERTS}")


def downgrade() -> None:
    op.execute(
        "UPDATE executions SET fingerprint = substr(fingerprint, 9) "
        "WHERE fingerprint LIKE 'grafana:%' AND alert_id IN "
        "(SELECT id FROM alerts WHERE group_key LIKE 'grafana:%')"
    )
    op.execute(
        "UPDATE alerts SET fingerprint = substr(fingerprint, 9) "
        "WHERE group_key LIKE 'grafana:%' AND fingerprint LIKE 'grafana:%'"
    )
