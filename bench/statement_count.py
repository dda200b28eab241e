#!/usr/bin/env python3
"""How much database work one webhook costs at a low rate, where nothing is batched.

Runs Firebreak in this process (SQLite, the default policy notifying the log channel), posts
``--webhooks`` one-alert webhooks ``--interval`` apart (each its own group, each escalated), and
counts, per webhook: SQL statements by kind, connections checked out of the pool, and trips
to SQLite's connection threads (each an event-loop wake-up): one per statement through the
pool's async driver, one per unit of work handed to the writer thread; and the CPU time this
process spent meanwhile (every thread, the test client's included), which another load on the
machine skews less than it skews throughput. At low rates the trips, not the inserts
themselves, are what a webhook costs.

Usage: ``python bench/statement_count.py [--webhooks 50] [--interval 0.05] [--alerts 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiosqlite.core
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver.app import create_app
from receiver.config import parse_config
from receiver.typedefs import STORE
from tests.payloads import alert, webhook

TOKEN = "bench-token"
CONFIG = """
database: {{url: "sqlite+aiosqlite:///{db}"}}
webhook: {{auth: {{bearer_tokens: ["{token}"]}}}}
log: {{level: warning}}
channels: {{log: {{type: log}}}}
escalation_policies:
  default:
    tiers:
      - {{after: 0s, notify: [log]}}
      - {{after: 1h, notify: [log]}}
notifications: {{group_window: 0s}}
"""


def _kind(statement: str) -> str:
    """``UPDATE jobs``, ``SELECT alerts`` ...: the verb and the first table named."""
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    found = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", text, re.IGNORECASE)
    return f"{verb} {found.group(1) if found else ''}".strip()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    statements: Counter[str] = Counter()
    counts = Counter[str]()
    trips = 0
    original = aiosqlite.core.Connection._execute

    async def counted(self: Any, fn: Any, *a: Any, **kw: Any) -> Any:
        nonlocal trips
        trips += 1
        return await original(self, fn, *a, **kw)

    aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="firebreak-count-") as tmp:
        text = CONFIG.format(db=Path(tmp) / "fb.db", token=TOKEN)
        app = create_app(parse_config(text, env={}), registry=CollectorRegistry())
        async with TestClient(TestServer(app)) as client:
            store = app[STORE]
            engine = store.engine.sync_engine

            # Every engine: the pool's (reads, other writes) and SQLite's writer thread's.
            @event.listens_for(Engine, "before_cursor_execute")
            def _statement(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
                statements[_kind(statement)] += 1

            @event.listens_for(engine, "checkout")
            def _checkout(*_a: Any) -> None:
                counts["checkouts"] += 1

            headers = {"Authorization": f"Bearer {TOKEN}"}
            warm = webhook(alert("Warm"), group_key="warm")
            await client.post("/webhook", json=warm, headers=headers)
            await asyncio.sleep(0.5)
            statements.clear()
            counts.clear()
            trips = 0
            writer = getattr(store, "writer", None)  # absent before units of work existed
            units_before = writer.trips if writer is not None else 0
            # Encoded before the clock starts: the client's own JSON work is not counted.
            bodies = [
                json.dumps(
                    webhook(
                        *(alert(f"C{i}", labels={"n": str(k)}) for k in range(args.alerts)),
                        group_key=f"g{i}",
                    )
                ).encode()
                for i in range(args.webhooks)
            ]
            headers["Content-Type"] = "application/json"
            cpu_before = time.process_time()
            for body in bodies:
                resp = await client.post("/webhook", data=body, headers=headers)
                assert resp.status == 200, resp.status
                await asyncio.sleep(args.interval)
            await asyncio.sleep(0.5)  # the last one's notification
            # A unit of work handed to the writer thread is one trip, whatever it runs.
            units = (writer.trips if writer is not None else 0) - units_before
            cpu = time.process_time() - cpu_before
    aiosqlite.core.Connection._execute = original  # type: ignore[method-assign]
    n = args.webhooks
    return {
        "webhooks": n,
        "alerts": args.alerts,
        "statements": sum(statements.values()) / n,
        "checkouts": counts["checkouts"] / n,
        "thread_trips": (trips + units) / n,
        "writer_units": units / n,
        # This process's CPU, every thread: Firebreak's and the test client's, per webhook.
        "cpu_ms": 1000 * cpu / n,
        "by_kind": {k: v / n for k, v in statements.most_common()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webhooks", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between webhooks")
    parser.add_argument("--alerts", type=int, default=1, help="alerts per webhook")
    result = asyncio.run(run(parser.parse_args()))
    print(
        f"per webhook ({result['webhooks']} of {result['alerts']} alert(s) sent one at a time): "
        f"{result['statements']:.1f} statements, {result['checkouts']:.1f} pool checkouts, "
        f"{result['thread_trips']:.1f} trips to SQLite's threads "
        f"({result['writer_units']:.1f} of them units of work run whole by the writer), "
        f"{result['cpu_ms']:.2f} ms of CPU (this process, client included)"
    )
    for kind, per in result["by_kind"].items():
        print(f"  {per:6.2f}  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
