#!/usr/bin/env python3
"""Soak: sustained webhook ingest at a steady rate, to show that nothing creeps.

Starts Firebreak the way ``webhook_bench.py`` does (``firebreak serve`` on a free port, a
temporary SQLite database unless ``--db-url`` names another), measures a quick maximum (closed
loop, one-alert webhooks, ``--probe-seconds``), then sends one-alert webhooks on a fixed schedule
at ``--fraction`` of that maximum (or ``--rate``) for ``--minutes``, reported per window of
``--window`` seconds (a minute by default): throughput, p50/p99 latency measured from the
scheduled send time, Firebreak's resident memory (``VmRSS`` from /proc) and the job backlog
(``firebreak_jobs_queued`` pending). The first window is the warm-up. At most
``--max-in-flight`` requests are outstanding at once, as from a sender with a bounded pool: a
stall queues sends in the client, still timed from their schedule, rather than opening a
connection for each until the server runs out of file descriptors.

Targets, printed PASS/FAIL:

- RSS grows by less than 10 % from the end of the warm-up window to the end of the run;
- p99 stays flat: the last window's p99 is at most 1.5x the first's;
- every webhook answered 200, and every alert acknowledged stored exactly once.

Usage::

    python bench/soak_bench.py                     # 5 minutes at half the measured maximum
    python bench/soak_bench.py --minutes 2         # shorter
    python bench/soak_bench.py --db-url postgresql+asyncpg://postgres@127.0.0.1:5432/soak
    python bench/soak_bench.py --rate 600 --minutes 3 --keep-db soak.db  # the jobs, kept
"""

from __future__ import annotations

import argparse
import contextlib
import math
import secrets
import signal
import sqlite3
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import webhook_bench as wb

TARGET_RSS_GROWTH = 0.10
TARGET_P99_RATIO = 1.5


@dataclass
class Window:
    index: int
    seconds: float
    rate: float  # webhooks/s answered 200 within the window
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mib: float  # at the window's end
    backlog: int  # pending jobs at the window's end


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pending_jobs(port: int) -> int:
    """Jobs waiting to run, from Firebreak's /metrics (``firebreak_jobs_queued``); -1 when
    /metrics does not answer in time (a machine loaded by others: the soak goes on)."""
    try:
        with urllib.request.urlopen(f"http://{wb.HOST}:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return -1
    total = 0.0
    for line in text.splitlines():
        if line.startswith("firebreak_jobs_queued{") and 'state="pending"' in line:
            total += float(line.rpartition(" ")[2])
    return int(total)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the soak")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per report line")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the measured maximum")
    parser.add_argument("--rate", type=float, help="webhooks/s (instead of --fraction)")
    parser.add_argument("--probe-seconds", type=float, default=5.0, help="maximum measurement")
    parser.add_argument("--db-url", help="run Firebreak on this database instead of temp SQLite")
    parser.add_argument("--sqlite-synchronous", choices=("full", "normal", "off"), default="full")
    parser.add_argument(
        "--max-in-flight", type=int, default=256, help="requests in flight at most (0: no cap)"
    )
    parser.add_argument(
        "--firebreak-wrapper",
        metavar="SCRIPT",
        help="run Firebreak through this script (e.g. bench/memory_probe.py)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--keep-db",
        metavar="FILE",
        help="copy the temporary SQLite database here at the end (its jobs show each turn's claim)",
    )
    args = parser.parse_args(argv)
    if args.minutes * 60 < 2 * args.window:
        parser.error("--minutes must cover at least two windows (a warm-up and one more)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, wb._sigterm)  # stop the server on the way out
    run_id = secrets.token_hex(4)
    windows: list[Window] = []
    acknowledged = sent = 0
    with tempfile.TemporaryDirectory(prefix="firebreak-soak-") as tmp:
        workdir = Path(tmp)
        db_url = args.db_url or f"sqlite+aiosqlite:///{workdir / 'firebreak.db'}"
        with wb.running(
            "firebreak", workdir, db_url, args.sqlite_synchronous, args.firebreak_wrapper
        ) as server:
            probe = wb.run_scenario(
                server,
                wb.Scenario("max", "m", 1, "closed", concurrency=64),
                run_id,
                args.probe_seconds,
                2,
            )
            acknowledged += probe.ok
            sent += probe.sent
            rate = args.rate or max(1.0, args.fraction * probe.webhooks_per_s)
            count = max(2, math.floor(args.minutes * 60 / args.window))
            print(
                f"Firebreak soak run {run_id}: maximum {probe.webhooks_per_s:,.0f} webhooks/s "
                f"(closed loop, {args.probe_seconds:g} s); soaking at {rate:,.0f}/s for "
                f"{count} x {args.window:g} s on {db_url.split(':', 1)[0]}",
                flush=True,
            )
            time.sleep(2)  # let the escalation the probe queued settle before the clock starts
            print(
                f"{'window':>6} {'webhooks/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
                f"{'RSS MiB':>8} {'backlog':>8}"
            )
            for index in range(count):
                scenario = wb.Scenario(f"soak-{index}", f"s{index}", 1, "open", rate=rate)
                result = wb.run_scenario(
                    server, scenario, run_id, args.window, 1, max_in_flight=args.max_in_flight
                )
                acknowledged += result.ok
                sent += result.sent
                window = Window(
                    index=index,
                    seconds=args.window,
                    rate=result.webhooks_per_s,
                    p50_ms=result.p50_ms,
                    p99_ms=result.p99_ms,
                    errors=result.errors,
                    rss_mib=rss_mib(server.pid),
                    backlog=pending_jobs(server.port),
                )
                windows.append(window)
                print(
                    f"{index + 1:>6} {window.rate:>10,.0f} {window.p50_ms:>8.2f} "
                    f"{window.p99_ms:>8.2f} {window.errors:>6} {window.rss_mib:>8.1f} "
                    f"{window.backlog:>8}{'  (warm-up)' if index == 0 else ''}",
                    flush=True,
                )
        rows, _hooks, how = wb.count_rows(db_url, run_id)
        if args.keep_db and not args.db_url:
            with (
                contextlib.closing(sqlite3.connect(workdir / "firebreak.db")) as source,
                contextlib.closing(sqlite3.connect(args.keep_db)) as copy,
            ):
                source.backup(copy)

    first, last = windows[0], windows[-1]
    growth = (last.rss_mib - first.rss_mib) / first.rss_mib
    p99_ratio = last.p99_ms / first.p99_ms
    errors = sum(w.errors for w in windows)
    checks = [
        (
            f"RSS growth after warm-up < {TARGET_RSS_GROWTH:.0%}",
            f"{growth:+.1%} ({first.rss_mib:.1f} -> {last.rss_mib:.1f} MiB)",
            growth < TARGET_RSS_GROWTH,
        ),
        (
            f"p99 flat: last window <= {TARGET_P99_RATIO:g}x the first",
            f"{p99_ratio:.2f}x ({first.p99_ms:.2f} -> {last.p99_ms:.2f} ms)",
            p99_ratio <= TARGET_P99_RATIO,
        ),
        ("no non-200 answers or transport errors", str(errors), errors == 0),
        wb.stored_once_check(rows, acknowledged, sent, how),
    ]
    results = {
        "run_id": run_id,
        "rate": rate,
        "maximum": probe.webhooks_per_s,
        "windows": [asdict(w) for w in windows],
    }
    wb.report(checks, args.json, results)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError) as exc:
        print(f"soak failed: {exc}", file=sys.stderr)
        sys.exit(2)
