"""The store: every table, every query, and the engine they run on."""

from receiver.store.engine import create_engine_for, migrate
from receiver.store.store import Store

__all__ = ["Store", "create_engine_for", "migrate"]
