#!/usr/bin/env python3
"""In-process cost of one group commit: ``Store.ingest`` without HTTP, the way the Ingestor
calls it, on a temporary SQLite database (or ``--db-url``).

For each batch shape it commits fresh webhooks (built by ``webhook_bench.BodyFactory`` and parsed
with ``parse_webhook_body``, both outside the timed part) and prints the wall time and the
process CPU time (both threads: the event loop's and aiosqlite's; "loop thread" is the event
loop's alone) per batch, per webhook and per alert, plus how many times aiosqlite handed work to
its thread per batch.

Usage: ``python bench/ingest_micro.py [--seconds 3] [--synchronous full|normal|off]``
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import webhook_bench as wb

from receiver.alertmanager import parse_webhook_body
from receiver.config import DatabaseConfig
from receiver.store import Store, create_engine_for, migrate
from receiver.store.store import ReceivedWebhook

SHAPES = [(1, 1), (32, 1), (1, 100), (32, 100)]  # (webhooks per batch, alerts per webhook)


async def measure(
    db_url: str, synchronous: str, seconds: float, shapes: list[tuple[int, int]]
) -> None:
    engine = create_engine_for(DatabaseConfig(url=db_url, sqlite_synchronous=synchronous))  # type: ignore[arg-type]
    await migrate(engine)
    store = Store(engine)
    run_id = secrets.token_hex(4)
    hops = 0
    try:
        import aiosqlite.core

        original = aiosqlite.core.Connection._execute

        async def counting(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal hops
            hops += 1
            return await original(self, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = counting  # type: ignore[method-assign]
    except (ImportError, AttributeError):
        pass
    print(
        f"{'batch':>16} {'batches':>7} {'wall ms/batch':>13} {'cpu ms/batch':>12} "
        f"{'loop thread':>11} {'cpu us/webhook':>14} {'cpu us/alert':>12} {'hops/batch':>10}"
    )
    for webhooks, alerts in shapes:
        factory = wb.BodyFactory(run_id, f"m{webhooks}x{alerts}", alerts)
        counter = iter(range(10**9))

        def batch(
            factory: wb.BodyFactory = factory, webhooks: int = webhooks, counter: Any = counter
        ) -> list[Any]:
            return [
                ReceivedWebhook(
                    parse_webhook_body(factory.build(0, next(counter))),
                    secrets.token_hex(8),
                    datetime.now(UTC),
                )
                for _ in range(webhooks)
            ]

        await store.ingest(batch(), datetime.now(UTC))  # warm the statement cache
        wall = cpu = loop_cpu = 0.0
        count = 0
        hops = 0
        while wall < seconds:
            items = batch()
            w0, c0, t0 = time.perf_counter(), time.process_time(), time.thread_time()
            await store.ingest(items, datetime.now(UTC))
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            loop_cpu += time.thread_time() - t0
            count += 1
        print(
            f"{f'{webhooks} x {alerts}-alert':>16} {count:>7} {1e3 * wall / count:>13.2f} "
            f"{1e3 * cpu / count:>12.2f} {1e3 * loop_cpu / count:>11.2f} "
            f"{1e6 * cpu / count / webhooks:>14.0f} "
            f"{1e6 * cpu / count / webhooks / alerts:>12.1f} {hops / count:>10.1f}"
        )
    await store.close()
    for alerts in (1, 100):
        factory = wb.BodyFactory(run_id, f"p{alerts}", alerts)
        bodies = [factory.build(0, i) for i in range(max(200, 20_000 // alerts))]
        c0 = time.process_time()
        for body in bodies:
            parse_webhook_body(body)
        spent = time.process_time() - c0
        print(
            f"parse_webhook_body, {alerts}-alert webhooks: "
            f"{1e6 * spent / len(bodies):.0f} us/webhook, "
            f"{1e6 * spent / len(bodies) / alerts:.1f} us/alert"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per shape")
    parser.add_argument("--synchronous", choices=("full", "normal", "off"), default="full")
    parser.add_argument("--db-url", help="instead of a temporary SQLite file")
    parser.add_argument(
        "--shapes",
        default=",".join(f"{w}x{a}" for w, a in SHAPES),
        help="batches as WEBHOOKSxALERTS, comma-separated (default: %(default)s)",
    )
    args = parser.parse_args()
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.shapes.split(",")]
    with tempfile.TemporaryDirectory(prefix="firebreak-ingest-") as tmp:
        url = args.db_url or f"sqlite+aiosqlite:///{Path(tmp) / 'firebreak.db'}"
        asyncio.run(measure(url, args.synchronous, args.seconds, shapes))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
