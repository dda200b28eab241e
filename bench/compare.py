#!/usr/bin/env python3
"""Firebreak against its baselines, in one run, as ratios.

Sends the same fresh-alert webhooks (the same bytes in the same order, every alert a new
occurrence for the server that gets it) to, in turn:

- the bare aiohttp handler (``bare_server.py``: parses the JSON, answers 200);
- Firebreak on SQLite (a temporary file, ``synchronous=FULL``) and Firebreak on PostgreSQL (a
  fresh database on ``--pg-admin-url``), each with its default escalation to the log channel;
- with ``--with-alerta``, Alerta 9 (installed from PyPI into a throwaway virtualenv under /tmp
  the first time, see ``alerta_server.py``; gunicorn ``--preload -w 2``) on a fresh database of
  its own on the same PostgreSQL server, taking the webhooks at ``/webhooks/prometheus``;

closed loop, ``--concurrency`` (16) webhooks in flight, ``--duration`` (5) seconds with 1 alert
per webhook and then with 100 (on the database the first scenario filled: ~30,000 alerts),
through ``webhook_bench``'s load generator; ``--rounds N`` does it all N times over, every round
on new, empty databases (a database grown by the rounds before is a different measurement:
inserts into its fingerprint index cost more), with PostgreSQL's dirty pages written out
(``CHECKPOINT``) before the next server's turn, and reports the median of each round's ratios
(on a shared machine the load moves between one server's turn and the next). After each
Firebreak scenario it reads what share of the alerts stored the job runner had routed when the
load stopped, waits until it has routed the rest (so the next scenario starts with no escalation
work left over), and counts the webhooks/s again over the window plus that wait ("until
routed"): the webhooks/s of the window alone count work put off as throughput. It prints one
table with each server's figures as ratios and PASS/FAIL against the targets (the ratios to bare
both ways), then counts the alert rows each Firebreak stored against the alerts it
acknowledged.

Usage::

    python bench/compare.py               # about a minute
    python bench/compare.py --with-alerta # installs Alerta the first time (~1 minute more)
    python bench/compare.py --json out.json

Exit status: 0 when the run completed (``--strict``: 1 when a check failed), 2 when it could
not be carried out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import alerta_server
import loadgen
import webhook_bench as wb
from bench_report import count_routed
from pgdb import PG_ADMIN_URL, Database, checkpoint, fresh_database

SCENARIOS = (1, 100)  # alerts per webhook
# The targets, all measured in the same run.
TARGET_BARE = {1: 0.25, 100: 0.06}  # Firebreak on SQLite / bare aiohttp, webhooks/s
TARGET_ALERTA = {"Firebreak SQLite": 25.0, "Firebreak PostgreSQL": 15.0}  # / Alerta, 1 and 100
# Alerta answers a 100-alert webhook in seconds, and 16 connections queue on its two workers:
# give the requests still in flight when a scenario ends time to be answered rather than counted
# as lost (the load workers are forked, so they see this too).
loadgen.DRAIN_TIMEOUT = 60.0


@dataclass
class Round:
    """The databases of one round: every round starts on empty ones, so that the rounds are
    the same measurement repeated (a database grown by the rounds before is a slower one)."""

    sqlite_url: str
    pg: Database
    alerta: Database | None


@dataclass
class Entrant:
    """One server in the comparison and what it did."""

    name: str
    # A server for webhook_bench.run_scenario, in a work directory on this round's databases.
    start: Callable[[Path, Round], AbstractContextManager[Any]]
    alone: bool  # the only process serving (not sharing the machine with its PostgreSQL)
    # The alerts it stored in this round's database, and how they were counted.
    count_rows: Callable[[Round], tuple[int, str]] | None = None
    results: dict[int, list[wb.Result]] = field(default_factory=dict)  # one per round
    acknowledged: int = 0  # alerts answered 2xx, warm-up included, all rounds
    sent: int = 0
    stored: int = 0  # alerts counted in its databases, all rounds
    counted_how: str = ""
    # Its database, for the share of the alerts stored that were routed when a scenario's load
    # stopped (Firebreak only).
    db_url: Callable[[Round], str] | None = None
    routed: dict[int, list[float]] = field(default_factory=dict)  # that share, one per round
    # Webhooks/s counted until every alert was routed (the window plus the wait for the rest).
    until_routed: dict[int, list[float]] = field(default_factory=dict)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    parser.add_argument("--concurrency", type=int, default=16, help="webhooks in flight")
    parser.add_argument("--workers", type=int, default=2, help="load processes")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="where to create databases")
    parser.add_argument(
        "--with-alerta",
        action="store_true",
        help="also measure Alerta 9, installed from PyPI into --alerta-venv when missing",
    )
    parser.add_argument(
        "--alerta-venv",
        type=Path,
        default=alerta_server.DEFAULT_VENV,
        help=f"Alerta's throwaway virtualenv ({alerta_server.DEFAULT_VENV})",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every server this many times, in turn"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a check fails")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1 to 20")
    if not 0 < args.duration <= 120:
        parser.error("--duration must be in (0, 120] seconds")
    if not 1 <= args.concurrency <= 1024:
        parser.error("--concurrency must be 1 to 1024")
    return args


def measure(
    entrant: Entrant,
    workdir: Path,
    run_id: str,
    round_no: int,
    databases: Round,
    args: argparse.Namespace,
) -> None:
    workdir.mkdir()
    with entrant.start(workdir, databases) as server:
        # The round goes into every alert's identity: each round's alerts are new ones too.
        warm = wb.Scenario("warm-up", f"r{round_no}w", 1, "closed", concurrency=args.concurrency)
        runs = [wb.run_scenario(server, warm, run_id, 1.0, args.workers)]
        for n in SCENARIOS:
            scenario = wb.Scenario(
                f"{n}-alert", f"r{round_no}c{n}", n, "closed", concurrency=args.concurrency
            )
            result = wb.run_scenario(server, scenario, run_id, args.duration, args.workers)
            entrant.results.setdefault(n, []).append(result)
            runs.append(result)
            routed = ""
            if entrant.db_url is not None:
                # Read at once: escalation work still waiting now was not done in the window
                # the webhooks/s were counted in.
                url = entrant.db_url(databases)
                stored, done = count_routed(url, run_id)
                share = done / stored if stored else 1.0
                entrant.routed.setdefault(n, []).append(share)
                waited = _wait_routed(url, run_id, stored, done)
                sustained = result.webhooks_per_s * args.duration / (args.duration + waited)
                entrant.until_routed.setdefault(n, []).append(sustained)
                routed = (
                    f", routed when the load stopped {done:,} of {stored:,} ({share:.1%}), "
                    f"the rest {waited:.1f} s later: {sustained:,.1f} webhooks/s until routed"
                )
            print(
                f"  {entrant.name:<20} {n:>3} alert(s): {result.webhooks_per_s:>9,.1f} webhooks/s,"
                f" p99 {result.p99_ms:.1f} ms, {result.errors} errors{routed}",
                flush=True,
            )
    for r in runs:
        entrant.acknowledged += r.ok * r.alerts_per_webhook
        entrant.sent += r.sent * r.alerts_per_webhook
    if entrant.count_rows is not None:
        stored, entrant.counted_how = entrant.count_rows(databases)
        entrant.stored += stored


def ratios(a: Entrant | None, b: Entrant | None, n: int) -> list[float]:
    """``a``'s webhooks/s over ``b``'s, round by round (each pair measured minutes apart)."""
    if a is None or b is None:
        return []
    return _over(b, n, [r.webhooks_per_s for r in a.results.get(n, [])])


def until_routed_ratios(e: Entrant, bare: Entrant, n: int) -> list[float]:
    """``e``'s webhooks/s counted until every alert was routed, over bare's, round by round."""
    return _over(bare, n, e.until_routed.get(n, []))


def _over(b: Entrant, n: int, rates: list[float]) -> list[float]:
    """``rates`` (webhooks/s, one per round) over ``b``'s webhooks/s in the same rounds."""
    pairs = zip(rates, b.results.get(n, []), strict=False)
    return [x / y.webhooks_per_s for x, y in pairs if y.webhooks_per_s > 0]


def ratio(a: Entrant | None, b: Entrant | None, n: int) -> float | None:
    """The median of ``ratios``."""
    got = ratios(a, b, n)
    return statistics.median(got) if got else None


def _median(results: list[wb.Result], attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in results))


def print_table(entrants: list[Entrant]) -> None:
    bare = entrants[0]
    header = (
        f"{'server':<20} {'alerts/webhook':>14} {'webhooks/s':>10} {'alerts/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'of bare':>8}  {'srv CPU':>7} "
        f"{'routed':>7} {'until routed':>12}  rounds"
    )
    print(header)
    print("-" * len(header))
    for n in SCENARIOS:
        for e in entrants:
            rs = e.results.get(n)
            if not rs:
                continue
            of_bare = ratio(e, bare, n)
            spread = ratios(e, bare, n)
            rounds = (
                f"{min(spread):.3f}-{max(spread):.3f}" if len(spread) > 1 and e is not bare else ""
            )
            print(
                f"{e.name:<20} {n:>14} {_median(rs, 'webhooks_per_s'):>10,.1f} "
                f"{_median(rs, 'alerts_per_s'):>9,.0f} {_median(rs, 'p50_ms'):>8.1f} "
                f"{_median(rs, 'p99_ms'):>8.1f} {sum(r.errors for r in rs):>6} "
                f"{'' if of_bare is None else f'{of_bare:.3f}':>8}  "
                f"{_median(rs, 'server_cpu_pct'):>6.0f}% {_share(e.routed.get(n)):>7} "
                f"{_until_routed(e, bare, n):>12}  {rounds}"
            )
    if len(bare.results.get(SCENARIOS[0], [])) > 1:
        print("(medians over the rounds; 'of bare' is the median of each round's ratio)")
    print(
        "('routed': the share of the alerts stored that the job runner had routed when the load "
        "stopped; 'until routed': webhooks/s counted until every alert was routed, as a share of "
        "bare's)"
    )


def print_against_alerta(entrants: list[Entrant]) -> None:
    by = {e.name: e for e in entrants}
    alerta = by.get("Alerta 9")
    if alerta is None:
        print("\nAlerta: not measured (--with-alerta installs and measures it)")
        return
    print("\nwebhooks/s as a multiple of Alerta's (median; each round's):")
    for name in TARGET_ALERTA:
        parts = []
        for n in SCENARIOS:
            got = ratio(by[name], alerta, n)
            each = ", ".join(f"{r:.1f}" for r in ratios(by[name], alerta, n))
            parts.append(f"{'-' if got is None else f'{got:.1f}x'} at {n} alert(s) ({each})")
        print(f"  {name:<20} " + "; ".join(parts))


def checks(entrants: list[Entrant]) -> list[tuple[str, str, bool]]:
    by = {e.name: e for e in entrants}
    bare, sqlite = by["bare aiohttp"], by["Firebreak SQLite"]
    out: list[tuple[str, str, bool]] = []
    for n, target in TARGET_BARE.items():
        got = ratio(sqlite, bare, n)
        if got is not None:
            out.append(
                (
                    f"Firebreak (SQLite) >= {target:g} of bare aiohttp at {n} alert(s) per webhook",
                    f"{got:.3f}",
                    got >= target,
                )
            )
        routed = until_routed_ratios(sqlite, bare, n)
        if routed:
            got = statistics.median(routed)
            out.append(
                (
                    f"Firebreak (SQLite) >= {target:g} of bare aiohttp at {n} alert(s) per "
                    "webhook, counted until every alert was routed",
                    f"{got:.3f}",
                    got >= target,
                )
            )
    alerta = by.get("Alerta 9")
    for name, target in TARGET_ALERTA.items():
        for n in SCENARIOS:
            got = ratio(by[name], alerta, n)
            if got is not None:
                out.append(
                    (
                        f"{name} >= {target:g}x Alerta at {n} alert(s) per webhook",
                        f"{got:.1f}x",
                        got >= target,
                    )
                )
    errors = sum(r.errors for e in entrants for rs in e.results.values() for r in rs)
    out.append(("no non-2xx answers or transport errors", str(errors), errors == 0))
    for e in entrants:
        if e.count_rows is not None:
            name, value, ok = wb.stored_once_check(e.stored, e.acknowledged, e.sent, e.counted_how)
            out.append((f"{e.name}: {name}", value, ok))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = secrets.token_hex(4)
    print(
        f"Firebreak comparison run {run_id}: closed loop, {args.concurrency} webhooks in flight, "
        f"{args.duration:g} s per scenario, {args.workers} load processes, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs",
        flush=True,
    )
    gunicorn = alerta_server.install(args.alerta_venv) if args.with_alerta else None
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firebreak-compare-")))

        def firebreak(name: str, url: Callable[[Round], str], alone: bool) -> Entrant:
            return Entrant(
                name,
                lambda workdir, r: wb.running("firebreak", workdir, url(r), "full"),
                alone,
                lambda r: _rows(wb.count_rows(url(r), run_id)),
                db_url=url,
            )

        entrants = [
            Entrant(
                "bare aiohttp", lambda workdir, _: wb.running("bare", workdir, "", "full"), True
            ),
            firebreak("Firebreak SQLite", lambda r: r.sqlite_url, True),
            firebreak("Firebreak PostgreSQL", lambda r: r.pg.asyncpg_url, False),
        ]
        if gunicorn is not None:
            entrants.append(
                Entrant(
                    "Alerta 9",
                    lambda workdir, r: alerta_server.running(gunicorn, workdir, _alerta(r).url),
                    False,
                    lambda r: (
                        asyncio.run(alerta_server.count_alerts(_alerta(r).url, run_id)),
                        "SQL count over asyncpg",
                    ),
                )
            )
        for round_no in range(args.rounds):
            if args.rounds > 1:
                print(f"round {round_no + 1} of {args.rounds}", flush=True)
            with contextlib.ExitStack() as round_stack:
                databases = Round(
                    f"sqlite+aiosqlite:///{tmp / f'firebreak-{round_no}.db'}",
                    round_stack.enter_context(
                        fresh_database(args.pg_admin_url, "firebreak_compare")
                    ),
                    round_stack.enter_context(fresh_database(args.pg_admin_url, "alerta_compare"))
                    if gunicorn is not None
                    else None,
                )
                for i, entrant in enumerate(entrants):
                    measure(entrant, tmp / f"{round_no}-{i}", run_id, round_no, databases, args)
                    if not entrant.alone:
                        # Or its checkpointer writes them out during the next server's turn.
                        checkpoint(args.pg_admin_url)
    elapsed = time.monotonic() - started

    print()
    print_table(entrants)
    print_against_alerta(entrants)
    results = {
        e.name: {
            n: [
                {"webhooks_per_s": r.webhooks_per_s, "p99_ms": r.p99_ms}
                | (
                    {"routed_share": e.routed[n][i], "until_routed_per_s": e.until_routed[n][i]}
                    if n in e.routed
                    else {}
                )
                for i, r in enumerate(rs)
            ]
            for n, rs in e.results.items()
        }
        for e in entrants
    }
    other = [r.other_cpu_pct for e in entrants if e.alone for rs in e.results.values() for r in rs]
    if other and max(other) > wb.OTHER_LOAD_WARN_PCT:
        print(
            f"\nNOTE: other processes used {min(other):.0f}-{max(other):.0f}% of a core while the "
            "servers ran alone: the machine was loaded, so figures and ratios are skewed; "
            "rerun on a quiet machine"
        )
    verdicts = checks(entrants)
    wb.report(verdicts, args.json, {"run_id": run_id, "results": results})
    print(f"\ntotal {elapsed:.0f} s")
    if args.strict and not all(ok for _, _, ok in verdicts):
        return 1
    return 0


# How long to wait for the job runner to route what a scenario left, and how often to look.
ROUTED_WAIT_LIMIT = 120.0
_ROUTED_POLL = 0.25


def _wait_routed(db_url: str, run_id: str, stored: int, routed: int) -> float:
    """Seconds until every alert of ``stored`` is routed, ``routed`` of them when called
    (``ROUTED_WAIT_LIMIT`` at most); the next scenario starts on a server with no escalation
    work left over."""
    started = time.monotonic()
    while routed < stored and time.monotonic() - started < ROUTED_WAIT_LIMIT:
        time.sleep(_ROUTED_POLL)
        routed = count_routed(db_url, run_id)[1]
    return time.monotonic() - started


def _share(shares: list[float] | None) -> str:
    return "" if not shares else f"{statistics.median(shares):.1%}"


def _until_routed(e: Entrant, bare: Entrant, n: int) -> str:
    got = until_routed_ratios(e, bare, n)
    return "" if not got else f"{statistics.median(got):.3f}"


def _alerta(databases: Round) -> Database:
    assert databases.alerta is not None  # made in every round that Alerta is measured in
    return databases.alerta


def _rows(counted: tuple[int, int, str]) -> tuple[int, str]:
    alerts, _webhooks, how = counted
    return alerts, how


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError) as exc:
        print(f"comparison failed: {exc}", file=sys.stderr)
        sys.exit(2)
