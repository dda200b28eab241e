"""notifications: an index on the reference, to find the alerts of a message or an incident

A Slack button press finds the alerts of the message it was pressed on, and a PagerDuty webhook
the alert whose page went under its incident's key, by the ``reference`` recorded with each
notice. Without an index both read the whole table, which holds every notice of the retention
period.

On PostgreSQL the index is built with CREATE INDEX CONCURRENTLY, outside a transaction: a plain
CREATE INDEX holds off every write to the table while it reads it all, seconds on a busy one,
and the webhooks and jobs that record notices would wait that long. A concurrent build that was
interrupted (a crash, a cancel, a lost connection) leaves its index INVALID, in the way of the
next build and of no use to queries; the next upgrade drops it and builds it again. SQLite
builds it in the migration's transaction, as before. A database this revision upgraded before
it built concurrently has its index already; nothing changes for it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

INDEX = "ix_notifications_reference"


# Only an index: a database stamped back to an earlier revision (to run a data migration
# again) keeps it, and upgrading past this again must not fail on it.
def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(INDEX, "notifications", ["reference"], if_not_exists=True)
        return
    with op.get_context().autocommit_block():
        if _left_invalid():
            op.drop_index(
                INDEX, table_name="notifications", postgresql_concurrently=True, if_exists=True
            )
        op.create_index(
            INDEX,
            "notifications",
            ["reference"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(INDEX, table_name="notifications", if_exists=True)
        return
    with op.get_context().autocommit_block():
        op.drop_index(
            INDEX, table_name="notifications", postgresql_concurrently=True, if_exists=True
        )


def _left_invalid() -> bool:
    """Whether the index is there but INVALID: what an interrupted concurrent build leaves."""
    valid = (
        op.get_bind()
        .execute(
            text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": INDEX},
        )
        .scalar()
    )
    return valid is False
