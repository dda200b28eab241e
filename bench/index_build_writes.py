#!/usr/bin/env python3
"""What building migration 0019's index does to writes on a busy notifications table, on
PostgreSQL: a plain CREATE INDEX (what 0019 ran before) against CREATE INDEX CONCURRENTLY (what
it runs now).

Fills a fresh database (migrated to the newest revision, the index then dropped) with
``--rows`` notifications, then for ``--rounds`` rounds builds the index both ways, alternating
(plain, concurrent, plain, concurrent...), dropping it between builds. Throughout each build a
writer records one notice at a time, each insert its own transaction, as the job runners do;
printed per build: the build's time, the writer's longest insert while it ran and how many
inserts it made meanwhile. Wall time: compare the two ways side by side, not across runs.

Usage: ``python bench/index_build_writes.py [--rows 1000000] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgdb import fresh_database

from receiver.store import migrate
from receiver.store.tables import alerts, notifications

_INDEX = "ix_notifications_reference"
_BATCH = 50_000
_BUILDS = {
    "plain": f"CREATE INDEX {_INDEX} ON notifications (reference)",
    "concurrent": f"CREATE INDEX CONCURRENTLY {_INDEX} ON notifications (reference)",
}


def _row(n: int, alert_id: int, now: datetime) -> dict[str, object]:
    return {
        "alert_id": alert_id,
        "channel": "pd",
        "target": "",
        "kind": "firing",
        "tier": 0,
        "idempotency_key": f"notify:{n}",
        "reference": f"firebreak/2026-12-07T00:00:00Z/{n:016x}",
        "sent_at": now,
    }


async def _fill(engine: AsyncEngine, autocommit: AsyncEngine, rows: int) -> int:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP INDEX IF EXISTS {_INDEX}"))
        alert_id = (
            await conn.execute(
                insert(alerts)
                .values(
                    fingerprint="0123456789abcdef",
                    status="firing",
                    labels={},
                    annotations={},
                    starts_at=now,
                    first_seen_at=now,
                    last_seen_at=now,
                )
                .returning(alerts.c.id)
            )
        ).scalar_one()
        for start in range(0, rows, _BATCH):
            batch = [_row(n, alert_id, now) for n in range(start, min(rows, start + _BATCH))]
            await conn.execute(insert(notifications), batch)
    async with autocommit.connect() as conn:
        await conn.execute(text("VACUUM ANALYZE notifications"))
    return int(alert_id)


async def _build(engine: AsyncEngine, autocommit: AsyncEngine, way: str, alert_id: int) -> str:
    stop = asyncio.Event()
    inserts: list[tuple[float, float]] = []  # (started, ended) of each of the writer's inserts
    counter = iter(range(10**9, 2 * 10**9))

    async def writer() -> None:
        now = datetime.now(UTC)
        async with engine.connect() as conn:
            while not stop.is_set():
                started = time.perf_counter()
                await conn.execute(insert(notifications), [_row(next(counter), alert_id, now)])
                await conn.commit()
                inserts.append((started, time.perf_counter()))

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.5)  # the writer under way before the build starts
    async with autocommit.connect() as conn:
        began = time.perf_counter()
        await conn.execute(text(_BUILDS[way]))
        ended = time.perf_counter()
    stop.set()
    await task  # its insert in flight, if the build held it, ends now
    during = [end - start for start, end in inserts if end > began and start < ended]
    async with autocommit.connect() as conn:
        await conn.execute(text(f"DROP INDEX {_INDEX}"))
    longest = max(during, default=0.0) * 1000
    return (
        f"{way:>10}: build {ended - began:6.2f} s, writer's longest insert {longest:8.1f} ms, "
        f"{len(during)} inserts meanwhile"
    )


async def _run(url: str, rows: int, rounds: int) -> None:
    engine = create_async_engine(url)
    autocommit = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        await migrate(engine)
        alert_id = await _fill(engine, autocommit, rows)
        for round_ in range(rounds):
            for way in ("plain", "concurrent"):
                line = await _build(engine, autocommit, way, alert_id)
                print(f"round {round_ + 1} {line}", flush=True)
    finally:
        await engine.dispose()
        await autocommit.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with fresh_database() as database:
        asyncio.run(_run(database.asyncpg_url, args.rows, args.rounds))


if __name__ == "__main__":
    main()
