#!/usr/bin/env python3
"""What finding alerts by a notice's reference costs on SQLite: a Slack button press looks up
the alerts of its message (``message_alerts``), a PagerDuty webhook the alert whose page went
under its incident's key (``alert_under_reference``).

Fills a fresh SQLite database (migrated to the newest revision) with ``--rows`` notifications,
a quarter as many alerts, half the rows Slack references and half PagerDuty keys, then times
``--lookups`` pairs of lookups of existing Slack references with the index on
``notifications.reference`` dropped (A) and present (B), alternating A B A B for ``--rounds``;
CPU time of this process per pair, which other load on the machine skews less than wall time.

Usage: ``python bench/reference_lookup.py [--rows 1000000] [--lookups 20] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver.store import migrate
from receiver.store.messages import alert_under_reference, message_alerts
from receiver.store.tables import alerts, notifications

_BATCH = 50_000


def _slack_reference(row: int) -> str:
    return f"C0123456:{1_700_000_000 + row}.000100"


def _pagerduty_key(alert_id: int) -> str:
    return f"firebreak/2026-12-07T00:00:00Z/{alert_id:016x}"


async def _fill(engine: AsyncEngine, rows: int) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(alerts),
            [
                {
                    "fingerprint": f"{i:016x}",
                    "status": "resolved",
                    "labels": {},
                    "annotations": {},
                    "starts_at": now,
                    "ends_at": now,
                    "generator_url": "",
                    "group_key": "g",
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for i in range(rows // 4 + 1)
            ],
        )
        batch = []
        for row in range(rows):
            alert_id = row // 4 + 1
            slack = row % 2 == 1
            batch.append(
                {
                    "alert_id": alert_id,
                    "channel": "chat" if slack else "pd",
                    "target": "",
                    "kind": "firing",
                    "tier": 0,
                    "idempotency_key": f"notify:{row}",
                    "reference": _slack_reference(row) if slack else _pagerduty_key(alert_id),
                    "sent_at": now,
                }
            )
            if len(batch) == _BATCH:
                await conn.execute(insert(notifications), batch)
                batch = []
        if batch:
            await conn.execute(insert(notifications), batch)


async def _timed(engine: AsyncEngine, references: list[int], indexed: bool) -> float:
    """CPU milliseconds per pair of lookups: a Slack message's alerts and, for the same
    alert, the alert under its PagerDuty key (the key of a row beside the message's)."""
    async with engine.begin() as conn:
        if indexed:
            await conn.execute(
                text(
                    "CREATE INDEX IF NOT EXISTS ix_notifications_reference"
                    " ON notifications (reference)"
                )
            )
        else:
            await conn.execute(text("DROP INDEX IF EXISTS ix_notifications_reference"))
    started = time.process_time()
    async with engine.connect() as conn:
        for row in references:
            ids, _ = await message_alerts(conn, ["chat"], _slack_reference(row))
            assert ids, row
            assert await alert_under_reference(conn, ["pd"], _pagerduty_key(ids[0])) == ids[0]
    return (time.process_time() - started) / len(references) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp}/refs.db")
        await migrate(engine)
        await _fill(engine, args.rows)
        rng = random.Random(7)
        references = rng.sample(range(1, args.rows, 2), args.lookups)
        for round_ in range(args.rounds):
            without = await _timed(engine, references, indexed=False)
            with_index = await _timed(engine, references, indexed=True)
            print(
                f"round {round_ + 1}: {args.rows} rows, CPU per press + webhook lookup: "
                f"no index {without:.2f} ms, index {with_index:.2f} ms, "
                f"ratio {without / with_index:.1f}"
            )
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
