#!/usr/bin/env python3
"""From webhook to notification, and what idle timers cost.

1. Latency: ``--rate`` webhooks a second (one alert each, each its own Alertmanager group) are
   sent on schedule to a Firebreak whose default policy notifies a webhook channel pointed at a
   receiver in this process. For every alert it measures the time from the webhook's scheduled
   send to the start of the first notification job about it (the job's ``started_at``; the
   target: median under 50 ms, p99 under 250 ms at 200 webhooks/s), and to the notification's
   arrival at the receiver.
2. Idle timers: ``--timers`` alerts whose next tier is an hour away (so as many escalation
   timers wait in the jobs table); then Firebreak's CPU time over ``--idle`` seconds of quiet,
   read from /proc, once the burst that added them has died down (a second with under 10 ms of
   CPU). Target: none to speak of (the workers sleep until the next due time).

``--runs N`` measures the latency N times over, each on a Firebreak of its own, reports each
run and how many met the target (it must hold in at least 9 of 10), then the idle timers once.

Usage: ``python bench/notify_bench.py [--rate 200] [--duration 10] [--timers 10000] [--runs 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import webhook_bench as wb

from tests.payloads import alert, webhook

TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0


def config(port: int, db_url: str, hook_url: str, second_tier: str, workers: int | None) -> str:
    return json.dumps(
        {
            "listen": f"127.0.0.1:{port}",
            "database": {"url": db_url},
            "webhook": {"auth": {"bearer_tokens": [wb.WEBHOOK_TOKEN]}},
            "log": {"level": "warning", "format": "json"},
            "channels": {
                "hook": {
                    "type": "webhook",
                    "webhook": {"url": hook_url, "timeout": "5s"},
                    "rate_limit": {"per_minute": 1_000_000, "burst": 100_000},
                }
            },
            "escalation_policies": {
                "default": {
                    "tiers": [
                        {"after": "0s", "notify": ["hook"]},
                        {"after": second_tier, "notify": ["hook"]},
                    ]
                }
            },
            "notifications": {"group_window": "0s"},
            **({"jobs": {"workers": workers}} if workers else {}),
        },
        indent=2,
    )


def job_waits(db: Path) -> dict[str, dict[str, float]]:
    """Per job kind, how long jobs waited from enqueue to finish (median, p99): where the
    time between a webhook and its notification goes."""
    from datetime import datetime

    conn = __import__("sqlite3").connect(db)
    rows = conn.execute(
        "SELECT kind, created_at, finished_at FROM jobs WHERE finished_at IS NOT NULL"
    ).fetchall()
    conn.close()
    waits: dict[str, list[float]] = {}
    for kind, created, finished in rows:
        delta = datetime.fromisoformat(finished) - datetime.fromisoformat(created)
        waits.setdefault(kind, []).append(delta.total_seconds() * 1000)
    return {
        kind: {
            "jobs": len(v),
            "p50_ms": statistics.median(v),
            "p99_ms": sorted(v)[int(0.99 * (len(v) - 1))],
        }
        for kind, v in waits.items()
    }


def notify_started(db: Path) -> dict[str, float]:
    """Per alertname, when (unix time) the first notification job about it started."""
    from datetime import UTC, datetime

    conn = __import__("sqlite3").connect(db)
    names = dict(conn.execute("SELECT id, json_extract(labels, '$.alertname') FROM alerts"))
    started: dict[str, float] = {}
    for payload, at in conn.execute(
        "SELECT payload, started_at FROM jobs WHERE kind = 'notify' AND started_at IS NOT NULL"
    ):
        when = datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp()
        for alert_id in json.loads(payload)["alert_ids"]:
            name = names.get(alert_id)
            if name is not None:
                started[name] = min(started.get(name, when), when)
    conn.close()
    return started


def slow_commits(metrics: str) -> dict[str, int]:
    """How many ingest commits (write-lock wait, statements and fsync) took over 100 and over
    250 ms, from Firebreak's histogram: a tail that is not there came from elsewhere."""
    buckets = {}
    for line in metrics.splitlines():
        if line.startswith("firebreak_ingest_commit_duration_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[le] = float(line.rsplit(" ", 1)[1])
    total = buckets.get("+Inf", 0.0)
    return {
        "commits": int(total),
        "over_100ms": int(total - buckets.get("0.1", total)),
        "over_250ms": int(total - buckets.get("0.25", total)),
    }


def pending_now(db: Path) -> int:
    """Jobs due now that have not finished: routing and first tiers still being worked off."""
    conn = __import__("sqlite3").connect(db)
    (n,) = conn.execute(
        "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"
        " AND due_at <= strftime('%Y-%m-%d %H:%M:%f', 'now')"
    ).fetchone()
    conn.close()
    return int(n)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace, *, idle_timers: bool = True) -> dict[str, Any]:
    arrivals: dict[str, float] = {}

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        now = time.perf_counter()
        for a in body["alerts"]:
            arrivals.setdefault(a["labels"]["alertname"], now)
        return web.json_response({})

    hook_app = web.Application()
    hook_app.router.add_post("/hook", receive)
    runner = web.AppRunner(hook_app, access_log=None)
    await runner.setup()
    hook_port = wb.free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()

    results: dict[str, Any] = {}
    keep = contextlib.nullcontext(args.keep) if args.keep else None
    with keep or tempfile.TemporaryDirectory(prefix="firebreak-notify-") as tmp:
        workdir = Path(tmp)
        port = wb.free_port()
        config_path = workdir / "firebreak.yml"
        config_path.write_text(
            config(
                port,
                f"sqlite+aiosqlite:///{workdir / 'fb.db'}",
                f"http://127.0.0.1:{hook_port}/hook",
                "1h",
                args.workers,
            )
        )
        log = open(workdir / "firebreak.log", "wb")  # noqa: SIM115, ASYNC230
        proc = await asyncio.create_subprocess_exec(
            *wb._firebreak_command(config_path), stdout=log, stderr=log, cwd=workdir
        )
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {wb.WEBHOOK_TOKEN}"}
        try:
            async with ClientSession() as session:
                for _ in range(200):
                    try:
                        async with session.get(base + "/health") as resp:
                            if resp.status == 200:
                                break
                    except OSError:
                        pass
                    await asyncio.sleep(0.1)

                async def send(name: str, at: float) -> None:
                    delay = at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    body = webhook(alert(name), group_key=f"g-{name}")
                    async with session.post(base + "/webhook", json=body, headers=headers) as r:
                        assert r.status == 200, r.status

                count = int(args.rate * args.duration)
                start = time.perf_counter() + 0.5
                wall_offset = time.time() - time.perf_counter()  # scheduled times as wall clock
                scheduled = {f"L{i}": start + i / args.rate for i in range(count)}
                await asyncio.gather(*(send(n, t) for n, t in scheduled.items()))
                deadline = time.perf_counter() + 30
                while len(arrivals) < count and time.perf_counter() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)  # the receiver's handler counts; polling is enough
                async with session.get(base + "/metrics") as resp:
                    results["slow_commits"] = slow_commits(await resp.text())
                results["job_wait_ms"] = job_waits(workdir / "fb.db")
                starts = notify_started(workdir / "fb.db")
                to_start = sorted(
                    (starts[n] - (t + wall_offset)) * 1000
                    for n, t in scheduled.items()
                    if n in starts
                )
                results["job_started"] = {
                    "jobs": len(to_start),
                    "p50_ms": statistics.median(to_start),
                    "p99_ms": to_start[int(0.99 * (len(to_start) - 1))],
                }
                latencies = sorted(
                    (arrivals[n] - t) * 1000 for n, t in scheduled.items() if n in arrivals
                )
                results["latency"] = {
                    "sent": count,
                    "notified": len(latencies),
                    "p50_ms": statistics.median(latencies),
                    "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
                }

                if not idle_timers:
                    return results
                # Idle timers: every alert so far waits an hour for tier 2; add more, each in a
                # group of its own (a group's alerts share one timer per tier), 32 in flight.
                in_flight = asyncio.Semaphore(32)

                async def add_timer(i: int) -> None:
                    body = webhook(alert(f"T{i}"), group_key=f"t-{i}")
                    async with (
                        in_flight,
                        session.post(base + "/webhook", json=body, headers=headers) as r,
                    ):
                        assert r.status == 200, r.status

                await asyncio.gather(*(add_timer(i) for i in range(args.timers - count)))
                # Let routing and the first tier finish: then only the timers are left.
                deadline = time.perf_counter() + 120
                while time.perf_counter() < deadline and pending_now(workdir / "fb.db"):  # noqa: ASYNC110
                    await asyncio.sleep(0.5)  # the database is polled: nothing to wait on
                # And until the burst's tail is over (its last outcomes recorded, the log
                # written): a second with under 10 ms of CPU, 30 s at most. What is measured
                # next is what the waiting timers cost, not what adding them did.
                quiet_by = time.perf_counter() + 30
                while time.perf_counter() < quiet_by:
                    began = cpu_seconds(proc.pid)
                    await asyncio.sleep(1.0)
                    if cpu_seconds(proc.pid) - began < 0.01:
                        break
                before = cpu_seconds(proc.pid)
                await asyncio.sleep(args.idle)
                spent = cpu_seconds(proc.pid) - before
                conn = __import__("sqlite3").connect(workdir / "fb.db")
                pending = conn.execute(
                    "SELECT count(*) FROM jobs WHERE state = 'pending'"
                ).fetchone()[0]
                alerts_waiting = conn.execute(
                    "SELECT count(*) FROM alerts WHERE status = 'firing'"
                ).fetchone()[0]
                conn.close()
                results["idle"] = {
                    "pending_timer_jobs": pending,
                    "alerts_waiting_for_tier_2": alerts_waiting,
                    "seconds": args.idle,
                    "cpu_seconds": spent,
                    "cpu_percent": 100 * spent / args.idle,
                }
        finally:
            proc.terminate()
            await proc.wait()
            log.close()
            await runner.cleanup()
    return results


def met_target(results: dict[str, Any]) -> bool:
    """Whether a run met the latency target, every alert notified."""
    lat, began = results["latency"], results["job_started"]
    return bool(
        lat["notified"] == lat["sent"]
        and began["p50_ms"] < TARGET_P50_MS
        and began["p99_ms"] < TARGET_P99_MS
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, help="jobs.workers (default: Firebreak's)")
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument(
        "--runs", type=int, default=1, help="latency runs, each on a fresh Firebreak"
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--keep", help="run in this directory and keep its database and log")
    args = parser.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    if args.runs > 1 and args.keep:
        parser.error("--keep keeps one run's database: use it without --runs")
    met = 0
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        results = asyncio.run(run(args, idle_timers=i == args.runs - 1))
        runs.append(results)
        met += met_target(results)
        if args.runs > 1:
            began, lat = results["job_started"], results["latency"]
            print(
                f"run {i + 1}/{args.runs}: notification job started p50 "
                f"{began['p50_ms']:.1f} ms, p99 {began['p99_ms']:.1f} ms; "
                f"{lat['notified']}/{lat['sent']} notified: "
                f"{'met' if met_target(results) else 'MISSED'}",
                flush=True,
            )
    report(args, runs[-1])
    if args.runs > 1:
        need = args.runs - args.runs // 10  # 9 of 10
        print(
            f"{'PASS' if met >= need else 'FAIL'}  {met} of {args.runs} runs met the latency "
            f"target (at least {need} must)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(runs if args.runs > 1 else runs[0], indent=2))
    return 0


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """The last run's figures, and the idle timers'."""
    lat, idle, began = results["latency"], results["idle"], results["job_started"]
    print(
        f"webhook -> notification job started at {args.rate:g} webhooks/s: "
        f"p50 {began['p50_ms']:.1f} ms, p99 {began['p99_ms']:.1f} ms ({began['jobs']} alerts)"
    )
    print(
        f"webhook -> notification delivered at {args.rate:g} webhooks/s: "
        f"{lat['notified']}/{lat['sent']} notified, p50 {lat['p50_ms']:.1f} ms, "
        f"p99 {lat['p99_ms']:.1f} ms"
    )
    slow = results["slow_commits"]
    print(
        f"  ingest   {slow['commits']:>6} commits, over 100 ms: {slow['over_100ms']}, "
        f"over 250 ms: {slow['over_250ms']}"
    )
    for kind, w in results["job_wait_ms"].items():
        print(
            f"  {kind:<9} {w['jobs']:>6} jobs, enqueued to finished: p50 {w['p50_ms']:.1f} ms, "
            f"p99 {w['p99_ms']:.1f} ms"
        )
    print(
        f"idle with {idle['alerts_waiting_for_tier_2']:,} alerts waiting for a tier "
        f"({idle['pending_timer_jobs']:,} timer jobs): {idle['cpu_seconds']:.2f} s CPU in "
        f"{idle['seconds']:g} s ({idle['cpu_percent']:.1f} %)"
    )
    print(
        f"{'PASS' if met_target(results) else 'FAIL'}  webhook to notification job started: "
        f"median < {TARGET_P50_MS:g} ms and p99 < {TARGET_P99_MS:g} ms; every alert notified"
    )
    ok_idle = idle["cpu_percent"] < 1.0
    print(f"{'PASS' if ok_idle else 'FAIL'}  idle timers cost under 1 % of a core")


if __name__ == "__main__":
    sys.exit(main())
