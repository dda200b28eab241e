"""``firebreak db``: schema migrations and the SQLite online backup and restore."""

from __future__ import annotations

import argparse
import asyncio
import sys

from receiver.cli.loaded import Loaded
from receiver.config import Config


def run(args: argparse.Namespace, loaded: Loaded) -> int:
    """``firebreak db upgrade|current|backup|restore``."""
    config = loaded.config
    if args.db_command in ("backup", "restore"):
        from receiver.store.backup import BackupError, backup, restore

        try:
            if args.db_command == "backup":
                print(backup(config.database.url, args.path))
            else:
                print(restore(config.database.url, args.path, force=args.force))
        except BackupError as exc:
            print(f"firebreak db {args.db_command}: {exc}", file=sys.stderr)
            return 1
        return 0
    return asyncio.run(_db(args.db_command, config))


async def _db(command: str, config: Config) -> int:
    from receiver.store import create_engine_for, migrate
    from receiver.store.engine import current_revision

    engine = create_engine_for(config.database)
    try:
        if command == "upgrade":
            await migrate(engine)
        revision = await current_revision(engine)
        print(f"schema revision: {revision or 'none'}")
    finally:
        await engine.dispose()
    return 0
