#!/usr/bin/env python3
"""Tiers in order after a channel outage, and what finding the notices ahead costs.

1. Outage (``outage``, the default): ``--alerts`` alerts (each its own Alertmanager group) are
   sent to a ``firebreak serve`` whose policy posts tier 1 to a webhook channel ``chat`` at
   once and tier 2 ``--tier2-after`` later: to the same channel and target (``--layout
   same-target``), to the same channel at another target, behind a breaker of its own
   (``same-channel``), or to another channel, ``pager`` (``cross``, the default). The chat
   channel's receiver answers 503 for ``--outage`` seconds from the first alert on, then 200.
   For every alert the receiver records the order its accepted notices arrived in; the run
   prints how many alerts heard tier 2 before tier 1 (out of order), how many never heard
   both, and how late tier 2 went out past its due time (what waiting in order costs).
2. Lookup (``lookup``): the query a later tier's notices run to find the notices they wait
   behind, on an SQLite jobs table holding ``--timers`` pending escalation timers,
   ``--finished`` finished notices and ``--notices`` notices on their way: as it is now (by
   alert group, off the partial index) against reading every pending notice's payload.

Usage: ``python bench/tier_order_bench.py [outage] [--layout cross] [--outage 5] [--alerts 200]
[--tier-order-wait 2m] [--postgres]`` or ``python bench/tier_order_bench.py lookup``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import webhook_bench as wb
from pgdb import fresh_database

from tests.payloads import alert, webhook


def config(args: argparse.Namespace, port: int, db_url: str, hook: str) -> str:
    """Tier 1 to ``chat``; tier 2 to ``chat`` (at the same target or another, with a
    breaker of its own), or to ``pager``. No rate limit to speak of: every notice is a
    message of its own."""
    limit = {"per_minute": 1_000_000, "burst": 100_000}
    channels = {
        name: {"type": "webhook", "webhook": {"url": f"{hook}/{name}"}, "rate_limit": limit}
        for name in ("chat", "pager")
    }
    tier2 = {
        "same-target": {"channel": "chat", "target": ""},
        "same-channel": {"channel": "chat", "target": f"{hook}/chat?tier=2"},
        "cross": {"channel": "pager", "target": ""},
    }[args.layout]
    notifications: dict[str, Any] = {"group_window": "0s"}
    if args.tier_order_wait is not None:
        notifications["tier_order_wait"] = args.tier_order_wait
    return json.dumps(
        {
            "listen": f"127.0.0.1:{port}",
            "database": {"url": db_url},
            "webhook": {"auth": {"bearer_tokens": [wb.WEBHOOK_TOKEN]}},
            "log": {"level": "error", "format": "json"},
            "channels": channels,
            "escalation_policies": {
                "default": {
                    "tiers": [
                        {"after": "0s", "notify": [{"channel": "chat", "target": ""}]},
                        {"after": f"{args.tier2_after:g}s", "notify": [tier2]},
                    ]
                }
            },
            "notifications": notifications,
        },
        indent=2,
    )


@dataclass
class Receiver:
    """The chat and pager endpoints: chat is down until ``down_until`` (perf_counter)."""

    down_until: float = float("inf")
    # Per alert, the tiers of its accepted notices in arrival order, and when tier 2 came.
    heard: dict[str, list[int]] = field(default_factory=dict)
    tier2_at: dict[str, float] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    refused: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        if request.path == "/chat" and now < self.down_until:
            self.refused += 1
            return web.Response(status=503, text="down")
        key = request.headers.get("X-Firebreak-Idempotency-Key", "")
        body = await request.json()
        if key not in self.keys and body.get("kind") == "firing":  # a repeat is recognised
            self.keys.add(key)
            for a in body["alerts"]:
                name = a["labels"]["alertname"]
                self.heard.setdefault(name, []).append(body["tier"])
                if body["tier"] == 1:
                    self.tier2_at.setdefault(name, now)
        return web.json_response({"id": key})


async def outage(args: argparse.Namespace, db_url: str, workdir: Path) -> dict[str, Any]:
    receiver = Receiver()
    hook_app = web.Application()
    hook_app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(hook_app, access_log=None)
    await runner.setup()
    hook_port = wb.free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    port = wb.free_port()
    config_path = workdir / "firebreak.yml"
    config_path.write_text(config(args, port, db_url, f"http://127.0.0.1:{hook_port}"))
    log = open(workdir / "firebreak.log", "wb")  # noqa: SIM115, ASYNC230
    proc = await asyncio.create_subprocess_exec(
        *wb._firebreak_command(config_path), stdout=log, stderr=log, cwd=workdir
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {wb.WEBHOOK_TOKEN}"}
    names = [f"O{i:04}" for i in range(args.alerts)]
    try:
        async with ClientSession() as session:
            for _ in range(300):
                if proc.returncode is not None:
                    raise SystemExit((workdir / "firebreak.log").read_text()[-3000:])
                with contextlib.suppress(OSError):
                    async with session.get(base + "/health") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
            started = time.perf_counter()
            receiver.down_until = started + args.outage
            sent: dict[str, float] = {}
            in_flight = asyncio.Semaphore(16)

            async def send(name: str) -> None:
                body = webhook(alert(name), group_key=f"g-{name}")
                async with in_flight:
                    sent[name] = time.perf_counter()
                    async with session.post(base + "/webhook", json=body, headers=headers) as r:
                        assert r.status == 200, r.status

            await asyncio.gather(*(send(n) for n in names))
            deadline = started + args.timeout
            while time.perf_counter() < deadline and not all(  # noqa: ASYNC110
                len(receiver.heard.get(n, ())) >= 2 for n in names
            ):
                await asyncio.sleep(0.2)  # the receiver's handler records; polling is enough
            took = time.perf_counter() - started
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
        log.close()
        await runner.cleanup()
    out_of_order = [n for n in names if receiver.heard.get(n, [])[:2] not in ([0, 1], [0])]
    incomplete = [n for n in names if len(receiver.heard.get(n, ())) < 2]
    late = sorted(
        receiver.tier2_at[n] - (sent[n] + args.tier2_after) for n in names if n in receiver.tier2_at
    )
    return {
        "alerts": len(names),
        "out_of_order": len(out_of_order),
        "incomplete": len(incomplete),
        "refused_during_outage": receiver.refused,
        "tier2_late_s": {
            "p50": statistics.median(late) if late else None,
            "max": late[-1] if late else None,
        },
        "seconds": took,
    }


# The lookup before the partial index (reconstructed): every pending or running notice's payload
# read for its group and channel, the path given in a way the index does not match.
_BEFORE = {
    "sqlite": """
SELECT * FROM jobs
WHERE kind IN ('notify', 'digest') AND state IN ('pending', 'running')
  AND json_extract(payload, '$."group_key"') IN ({groups})
  AND json_extract(payload, '$."channel"') IN ('chat')
""",
    "postgresql": """
SELECT * FROM jobs
WHERE kind IN ('notify', 'digest') AND state IN ('pending', 'running')
  AND payload #>> '{{group_key}}' IN ({groups}) AND payload #>> '{{channel}}' IN ('chat')
""",
}


async def lookup(args: argparse.Namespace, db_url: str) -> dict[str, Any]:
    from sqlalchemy import event, text

    from receiver.config import DatabaseConfig
    from receiver.model import NewJob
    from receiver.store import Store, create_engine_for, migrate

    engine = create_engine_for(DatabaseConfig(url=db_url))
    dialect = engine.dialect.name
    await migrate(engine)
    store = Store(engine)
    now = datetime.now(UTC)

    def job(kind: str, key: str, group: str, tier: int) -> NewJob:
        payload = {"notice": "firing", "alert_ids": [1], "group_key": group, "channel": "chat"}
        return NewJob(kind, {**payload, "target": "", "tier": tier}, now, key)

    new = [job("escalate", f"t{i}", f"g{i}", 1) for i in range(args.timers)]
    new += [job("notify", f"f{i}", f"g{i}", 0) for i in range(args.finished)]
    new += [job("notify", f"n{i}", f"g{i}", 0) for i in range(args.notices)]
    async with store.transaction() as conn:
        for i in range(0, len(new), 5000):
            await store.jobs.enqueue(conn, new[i : i + 5000], now)
        await conn.execute(text("UPDATE jobs SET state = 'done' WHERE idempotency_key LIKE 'f%'"))
    if dialect == "postgresql":
        async with store.transaction() as conn:
            await conn.execute(text("ANALYZE jobs"))  # as autovacuum would have by now
    groups = [f"g{i}" for i in range(0, args.notices, max(1, args.notices // 16))][:16]
    timings: dict[str, float] = {}
    async with store.connection() as conn:
        for name, run in (
            ("by group, off the index", lambda: store.jobs.on_their_way(conn, groups)),
            (
                "every pending notice's payload",
                lambda: conn.execute(
                    text(_BEFORE[dialect].format(groups=", ".join(f"'{g}'" for g in groups)))
                ),
            ),
        ):
            await run()
            began = time.perf_counter()
            for _ in range(args.repeat):
                await run()
            timings[name] = (time.perf_counter() - began) / args.repeat * 1000
        seen: list[tuple[str, Any]] = []
        listener = (engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2:4]))
        event.listen(*listener)
        await store.jobs.on_their_way(conn, groups)
        event.remove(*listener)
        statement, parameters = seen[0]
        explain = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        plan = await conn.exec_driver_sql(explain + statement, parameters)
        plan_text = "; ".join(str(row[-1]).strip() for row in plan)
    await engine.dispose()
    return {
        "database": dialect,
        "plan": plan_text,
        "timers": args.timers,
        "finished": args.finished,
        "notices": args.notices,
        "ms": timings,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", choices=("outage", "lookup"), default="outage")
    parser.add_argument(
        "--layout", choices=("same-target", "same-channel", "cross"), default="cross"
    )
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--outage", type=float, default=5.0, help="seconds chat is down")
    parser.add_argument("--tier2-after", type=float, default=2.0, help="seconds")
    parser.add_argument("--tier-order-wait", help="notifications.tier_order_wait (default 2m)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait at most")
    parser.add_argument("--postgres", action="store_true", help="on a fresh PostgreSQL database")
    parser.add_argument("--timers", type=int, default=20_000)
    parser.add_argument("--finished", type=int, default=20_000)
    parser.add_argument("--notices", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="firebreak-tiers-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as stack:
            if args.postgres:
                db_url = stack.enter_context(fresh_database()).asyncpg_url
            else:
                db_url = f"sqlite+aiosqlite:///{workdir / 'fb.db'}"
            if args.mode == "lookup":
                results = asyncio.run(lookup(args, db_url))
            else:
                results = asyncio.run(outage(args, db_url, workdir))
        if args.mode == "lookup":
            print(
                f"{results['database']}: {results['timers']:,} timers, {results['finished']:,} "
                f"finished notices, {results['notices']:,} notices on their way; 16 groups:"
            )
            for name, ms in results["ms"].items():
                print(f"  {name:<32} {ms:8.3f} ms")
            print(f"  plan: {results['plan']}")
        else:
            late = results["tier2_late_s"]
            print(
                f"{args.layout}: {args.outage:g} s outage of tier 1's channel, tier 2 "
                f"after {args.tier2_after:g} s, tier_order_wait "
                f"{args.tier_order_wait or 'default'}, "
                f"{'PostgreSQL' if args.postgres else 'SQLite'}:"
            )
            print(
                f"  out of order: {results['out_of_order']} of {results['alerts']} alerts; "
                f"without both tiers after {results['seconds']:.0f} s: {results['incomplete']}"
            )
            if late["p50"] is not None:
                print(
                    f"  tier 2 past its due time: median {late['p50']:.1f} s, "
                    f"max {late['max']:.1f} s"
                )
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
