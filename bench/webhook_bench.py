#!/usr/bin/env python3
"""Webhook throughput and latency: Firebreak against a bare aiohttp handler.

Starts each server as a subprocess on a free loopback port (Firebreak through ``firebreak serve``
with a generated configuration and a temporary SQLite database; the baseline is
``bench/bare_server.py``), loads it from separate worker processes, stops it, and prints one table
plus PASS/FAIL for each target. Afterwards it counts Firebreak's stored alert rows and compares
them with the unique alerts that were acknowledged.

Scenarios, run against both servers with the same request bytes and the same concurrency:

- ``1-alert``: closed loop, ``--concurrency`` webhooks in flight, one alert each;
- ``100-alert``: the same with one hundred alerts per webhook;
- ``open-500/s``: open loop, ``--rate`` one-alert webhooks a second sent on schedule whatever
  the answers; latency runs from the scheduled send time (no coordinated omission). It runs
  first, on an idle receiver;
- ``open-500/s+backlog``: the same after the two storms, while Firebreak works off the
  escalation they queued (reported, no target).

Every alert of every webhook is a new occurrence (a fingerprint never sent before, in this run or
any other), and all request bytes are built before the clock starts. The load generator is a
minimal HTTP/1.1 keep-alive client on raw asyncio transports: on a 2-core machine the client
shares the CPU with the server, and a heavier client (aiohttp's) would cap the baseline first.

Usage::

    python bench/webhook_bench.py            # ~10 s per scenario, about 2 minutes in all
    python bench/webhook_bench.py --quick    # 2 s per scenario, a smoke run
    python bench/webhook_bench.py --json out.json
    python bench/webhook_bench.py --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

Exit status: 0 when the run completed (whatever the targets said; add ``--strict`` to exit 1 when
a check fails), 2 when the run itself could not be carried out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# The parts below are modules of their own in bench/, imported as top-level modules whether
# this file runs as a script or is imported (``webhook_bench`` or ``bench.webhook_bench``).
for _path in (ROOT, BENCH_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# What the other benchmarks use as ``wb.<name>``, from where it now lives.
from bench_report import (  # noqa: E402
    OTHER_LOAD_WARN_PCT,
    DbCheck,
    count_rows,
    evaluate,
    print_table,
    report,
    stored_once_check,
)
from bench_scenarios import Result, Scenario, run_scenario  # noqa: E402
from bench_servers import (  # noqa: E402
    Server,
    _firebreak_command,
    firebreak_config,
    free_port,
    process_cpu_seconds,
)
from loadgen import (  # noqa: E402
    DRAIN_TIMEOUT,
    HOST,
    WEBHOOK_TOKEN,
    BodyFactory,
    _die_with_parent,
    request_bytes,
)

__all__ = [
    "DRAIN_TIMEOUT",
    "HOST",
    "OTHER_LOAD_WARN_PCT",
    "WARMUP",
    "WEBHOOK_TOKEN",
    "BodyFactory",
    "DbCheck",
    "Result",
    "Scenario",
    "Server",
    "_die_with_parent",
    "_firebreak_command",
    "_sigterm",
    "count_rows",
    "evaluate",
    "firebreak_config",
    "free_port",
    "main",
    "print_table",
    "process_cpu_seconds",
    "report",
    "request_bytes",
    "run_scenario",
    "running",
    "scenarios",
    "serving",
    "stored_once_check",
]


# --- main -------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Firebreak webhook throughput/latency against a bare aiohttp handler."
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--quick", action="store_true", help="2 s per scenario (smoke run)")
    parser.add_argument("--db-url", help="run Firebreak on this database instead of temp SQLite")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop in flight")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop webhooks/s")
    parser.add_argument(
        "--workers", type=int, default=2, help="load processes for closed-loop scenarios"
    )
    parser.add_argument("--sqlite-synchronous", choices=("full", "normal", "off"), default="full")
    parser.add_argument(
        "--servers", default="bare,firebreak", help="comma-separated subset of bare,firebreak"
    )
    parser.add_argument(
        "--scenarios",
        default="1-alert,100-alert,open",
        help="comma-separated subset of 1-alert,100-alert,open",
    )
    parser.add_argument(
        "--firebreak-wrapper",
        metavar="SCRIPT",
        help="run Firebreak as 'python SCRIPT serve --config F' (e.g. bench/serve_variant.py)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a check fails")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 2.0
    if args.duration <= 0 or args.duration > 120:
        parser.error("--duration must be in (0, 120] seconds")
    if args.db_url and not args.db_url.startswith(
        ("sqlite+aiosqlite:///", "postgresql+asyncpg://")
    ):
        parser.error("--db-url must start with sqlite+aiosqlite:/// or postgresql+asyncpg://")
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or set(args.servers) - {"bare", "firebreak"}:
        parser.error("--servers takes bare, firebreak or both")
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not args.scenarios or set(args.scenarios) - {"1-alert", "100-alert", "open"}:
        parser.error("--scenarios takes 1-alert, 100-alert, open or several")
    return args


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    # The latency target is measured first, on a receiver with nothing queued. The storms
    # leave escalation work behind (hundreds of thousands of alerts), worked off in the
    # background; the last row measures webhook latency while that happens (no target).
    return [
        Scenario(f"open-{args.rate:g}/s", "o1", 1, "open", rate=args.rate),
        Scenario("1-alert", "c1", 1, "closed", concurrency=args.concurrency),
        Scenario("100-alert", "c100", 100, "closed", concurrency=args.concurrency),
        Scenario(f"open-{args.rate:g}/s+backlog", "o2", 1, "open", rate=args.rate),
    ]


WARMUP = Scenario("warm-up", "w", 1, "closed", concurrency=16)


def _sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(2)


@contextlib.contextmanager
def running(
    kind: str, workdir: Path, db_url: str, synchronous: str, wrapper: str | None = None
) -> Iterator[Server]:
    with serving(Server(kind, workdir, db_url, synchronous, wrapper)) as server:
        yield server


@contextlib.contextmanager
def serving(server: Server) -> Iterator[Server]:
    """A started server, once it is ready; stopped on leaving the block."""
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
        if code not in (0, -signal.SIGINT, None):
            print(f"  note: {server.kind} exited with {code}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    import aiohttp

    run_id = secrets.token_hex(4)
    print(
        f"Firebreak webhook benchmark  run {run_id}: {args.duration:g} s per scenario, "
        f"concurrency {args.concurrency}, open loop {args.rate:g}/s, {args.workers} load "
        f"process(es), Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    results: list[Result] = []
    db_check: DbCheck | None = None
    log_lines: dict[str, int] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        workdir = Path(tmp)
        db_url = args.db_url or f"sqlite+aiosqlite:///{workdir / 'firebreak.db'}"
        fb_alerts_min = fb_alerts_max = fb_webhooks_min = 0
        for kind in args.servers:
            wrapper = args.firebreak_wrapper if kind == "firebreak" else None
            with running(kind, workdir, db_url, args.sqlite_synchronous, wrapper) as server:
                warm = run_scenario(server, WARMUP, run_id, 1.0, args.workers)
                runs = [warm]
                for sc in scenarios(args):
                    if (sc.name if sc.mode == "closed" else "open") not in args.scenarios:
                        continue
                    print(f"  {kind:<9} {sc.name} ...", end="", flush=True)
                    result = run_scenario(server, sc, run_id, args.duration, args.workers)
                    print(
                        f" {result.webhooks_per_s:,.0f} webhooks/s, p99 {result.p99_ms:.1f} ms,"
                        f" {result.errors} errors",
                        flush=True,
                    )
                    results.append(result)
                    runs.append(result)
                if kind == "firebreak":
                    for r in runs:
                        fb_alerts_min += r.ok * r.alerts_per_webhook
                        fb_alerts_max += r.sent * r.alerts_per_webhook
                        fb_webhooks_min += r.ok
            log_lines[kind] = server.log_line_count()
            if log_lines[kind]:
                print(f"  note: {kind} logged {log_lines[kind]} line(s) at warning or above:")
                print("    " + server.log(10).replace("\n", "\n    "))
        if "firebreak" in args.servers:
            rows, hooks, how = count_rows(db_url, run_id)
            db_check = DbCheck(
                expected_min=fb_alerts_min,
                expected_max=fb_alerts_max,
                rows=rows,
                webhook_rows=hooks,
                webhooks_expected_min=fb_webhooks_min,
                how=how,
                ok=fb_alerts_min == fb_alerts_max == rows and hooks >= fb_webhooks_min,
            )
    elapsed = time.monotonic() - started

    print()
    db_is_external = bool(args.db_url and args.db_url.startswith("postgresql"))
    print_table(results, db_is_external)
    print()
    checks = evaluate(results, db_check)
    for name, value, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    for r in results:
        for sample in r.error_samples:
            print(f"  error sample ({r.scenario}, {r.server}): {sample}")
    disturbed = [
        r
        for r in results
        if r.other_cpu_pct > OTHER_LOAD_WARN_PCT
        and not (db_is_external and r.server == "firebreak")
    ]
    if disturbed:
        worst = max(r.other_cpu_pct for r in disturbed)
        print(
            f"WARNING: other processes used up to {worst:.0f}% of a core during "
            f"{len(disturbed)} scenario run(s): those numbers are skewed; rerun on a quiet machine"
        )
    print(f"\ntotal {elapsed:.0f} s")

    if args.json:
        out = {
            "run_id": run_id,
            "python": platform.python_version(),
            "aiohttp": aiohttp.__version__,
            "cpus": os.cpu_count(),
            "options": {k: v for k, v in vars(args).items() if k not in ("json",) and k != "db_url"}
            | {"database": (args.db_url or "sqlite (temp)").split("://", 1)[0]},
            "results": [asdict(r) for r in results],
            "checks": [{"check": n, "value": v, "pass": ok} for n, v, ok in checks],
            "db": asdict(db_check) if db_check else None,
            "server_log_lines": log_lines,
            "elapsed_s": round(elapsed, 1),
        }
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    if args.strict and not all(ok for _, _, ok in checks):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(2)
