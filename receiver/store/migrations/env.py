"""Alembic environment: runs on the connection Firebreak hands it (see store/engine.py)."""

from __future__ import annotations

from alembic import context

from receiver.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `firebreak db upgrade`, which supplies the connection"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # Each migration commits with its revision, so one that must run outside a transaction
    # (0019's CREATE INDEX CONCURRENTLY on PostgreSQL) commits no half of another.
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
