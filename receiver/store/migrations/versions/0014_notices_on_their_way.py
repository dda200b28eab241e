"""jobs: an index on the notices on their way, by alert group (tiers in order)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import NOTICES_ON_THEIR_WAY, GroupKeyOf

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_jobs_notices_on_their_way",
        "jobs",
        [GroupKeyOf(sa.column("payload"))],
        sqlite_where=sa.text(NOTICES_ON_THEIR_WAY),
        postgresql_where=sa.text(NOTICES_ON_THEIR_WAY),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_notices_on_their_way", table_name="jobs")
