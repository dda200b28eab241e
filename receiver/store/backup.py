"""Online backup and restore of the SQLite store, with SQLite's own backup API.

The backup API copies the database page by page under a read transaction, so the copy is one
consistent snapshot (every commit before it, none after) while the receiver keeps writing.
PostgreSQL has better tools of its own; for it, ``backup`` explains them instead.
"""

from __future__ import annotations

import os
import sqlite3

from receiver.errors import FirebreakError

POSTGRES_ADVICE = (
    "the database is PostgreSQL: take backups with its own tools. "
    "For a consistent logical backup: pg_dump --format=custom --file=firebreak.dump DBNAME "
    "(restore with pg_restore --clean --dbname=DBNAME firebreak.dump). For fail-over, run a "
    "streaming-replication standby (pg_basebackup -R) and point Firebreak's database.url at "
    "the primary through a virtual IP or a service name."
)


class BackupError(FirebreakError):
    """The backup or restore could not be done; the message says why."""


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite+aiosqlite:///PATH`` URL; BackupError for anything else."""
    if url.startswith("postgresql"):
        raise BackupError(POSTGRES_ADVICE)
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or url == prefix or ":memory:" in url:
        raise BackupError("database.url is not a SQLite file (sqlite+aiosqlite:///PATH)")
    return url[len(prefix) :].split("?", 1)[0]


def _copy(source: str, target: str) -> int:
    """Copy database ``source`` into ``target`` with the backup API; returns its alert count."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy failed its integrity check: {check}")
            return int(dst.execute("SELECT count(*) FROM alerts").fetchone()[0])
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(str(exc)) from None
    finally:
        src.close()


def backup(url: str, path: str) -> str:
    """Write a consistent copy of the live database to ``path``; returns a summary line."""
    source = sqlite_path(url)
    if not os.path.exists(source):
        raise BackupError(f"no database at {source}")
    if os.path.exists(path):
        raise BackupError(f"{path} exists already; choose a new file")
    try:
        alerts = _copy(source, path)
    except BackupError:
        if os.path.exists(path):
            os.remove(path)
        raise
    return f"backup written to {path}: {alerts} alert occurrences"


def restore(url: str, path: str, *, force: bool = False) -> str:
    """Replace the configured database with the backup at ``path``."""
    target = sqlite_path(url)
    if not os.path.exists(path):
        raise BackupError(f"no backup at {path}")
    if os.path.exists(target) and not force:
        try:
            conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
            try:
                held = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error:
            held = 0  # no alerts table: nothing to lose
        if held:
            raise BackupError(
                f"{target} holds {held} alert occurrences; stop the receiver and pass --force "
                "to replace them"
            )
    # The backup API writes through SQLite's own locking, and leaves no stale -wal behind.
    alerts = _copy(path, target)
    return f"restored {path} into {target}: {alerts} alert occurrences"
