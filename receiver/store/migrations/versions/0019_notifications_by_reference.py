"""notifications: an index on the reference, to find the alerts of a message or an incident

A Slack button press finds the alerts of the message it was pressed on, and a PagerDuty webhook
the alert whose page went under its incident's key, by the ``reference`` recorded with each
notice. Without an index both read the whole table, which holds every notice of the retention
period.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


# Only an index: a database stamped back to an earlier revision (to run a data migration
# again) keeps it, and upgrading past this again must not fail on it.
def upgrade() -> None:
    op.create_index(
        "ix_notifications_reference", "notifications", ["reference"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_reference", table_name="notifications", if_exists=True)
