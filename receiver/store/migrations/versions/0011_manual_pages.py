"""manual_pages: pages raised by hand, with their key, who raised them and whom they are for

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from receiver.store.tables import Id, Json, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "manual_pages",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("raised_by", sa.String(256), nullable=False),
        sa.Column("target", sa.String(256), server_default="", nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("details", sa.Text(), server_default="", nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_manual_pages"),
        sa.UniqueConstraint("key", name="uq_manual_pages_key"),
    )
    op.create_index("ix_manual_pages_fingerprint", "manual_pages", ["fingerprint"])


def downgrade() -> None:
    op.drop_index("ix_manual_pages_fingerprint", table_name="manual_pages")
    op.drop_table("manual_pages")
