"""What a webhook benchmark run found: the stored rows counted against the alerts
acknowledged, the table of results, and each target checked PASS or FAIL (printed, and written
as JSON on request)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_scenarios import Result
from loadgen import bench_group_key

# CPU (percent of one core) used by processes other than the server and the load generator
# during a scenario above which its numbers are flagged as disturbed.
OTHER_LOAD_WARN_PCT = 15.0

TARGET_RATIO_1 = 0.25
TARGET_ALERTS_100 = 25_000
TARGET_P99_OPEN_MS = 25.0


# --- verification -----------------------------------------------------------------------------


@dataclass
class DbCheck:
    expected_min: int  # alerts in webhooks answered 200
    expected_max: int  # ... plus those of webhooks whose fate is unknown (errors, no answer)
    rows: int | None
    webhook_rows: int | None
    webhooks_expected_min: int
    how: str
    ok: bool


def count_rows(db_url: str, run_id: str) -> tuple[int, int, str]:
    """Alert rows and webhook rows this run stored."""
    if db_url.startswith("sqlite"):
        path = db_url.split(":///", 1)[1]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            (rows,) = db.execute(
                "SELECT count(*) FROM alerts WHERE json_extract(labels, '$.bench_run') = ?",
                (run_id,),
            ).fetchone()
            (hooks,) = db.execute(
                "SELECT count(*) FROM webhooks WHERE group_key = ?", (bench_group_key(run_id),)
            ).fetchone()
        return rows, hooks, f"stdlib sqlite3 on {path}"
    rows, hooks = asyncio.run(
        _postgres_row(
            db_url,
            "SELECT (SELECT count(*) FROM alerts WHERE labels->>'bench_run' = $1), "
            "(SELECT count(*) FROM webhooks WHERE group_key = $2)",
            run_id,
            bench_group_key(run_id),
        )
    )
    return int(rows), int(hooks), "SQL count over asyncpg"


async def _postgres_row(db_url: str, sql: str, *args: Any) -> Any:
    """The one row ``sql`` returns, over a connection of its own (asyncpg)."""
    import asyncpg  # type: ignore[import-not-found]

    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


def count_routed(db_url: str, run_id: str) -> tuple[int, int]:
    """Alerts this run stored, and how many of them the job runner has routed by now (each
    alert routed has a row in ``alert_routes``): read as a scenario's load stops, the share
    not routed yet is escalation work put off past the window the webhooks/s were counted in."""
    if db_url.startswith("sqlite"):
        path = db_url.split(":///", 1)[1]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            stored, routed = db.execute(_ROUTED_SQLITE, (run_id,)).fetchone()
        return int(stored), int(routed or 0)
    stored, routed = asyncio.run(_postgres_row(db_url, _ROUTED_POSTGRES, run_id))
    return int(stored), int(routed)


_ROUTED_SQLITE = (
    "SELECT count(*), sum(EXISTS (SELECT 1 FROM alert_routes r WHERE r.alert_id = a.id)) "
    "FROM alerts a WHERE json_extract(a.labels, '$.bench_run') = ?"
)
_ROUTED_POSTGRES = (
    "SELECT count(*), count(*) FILTER (WHERE EXISTS "
    "(SELECT 1 FROM alert_routes r WHERE r.alert_id = a.id)) "
    "FROM alerts a WHERE a.labels->>'bench_run' = $1"
)


# --- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def print_table(results: list[Result], db_is_external: bool = False) -> None:
    bare = {r.scenario: r for r in results if r.server == "bare"}
    header = (
        f"{'scenario':<12} {'server':<9} {'webhooks/s':>10} {'alerts/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>6} {'FB/bare':>7}  {'srv CPU':>7} {'load CPU':>8}  notes"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = ""
        base = bare.get(r.scenario)
        if r.server == "firebreak" and base is not None and base.webhooks_per_s > 0:
            ratio = f"{r.webhooks_per_s / base.webhooks_per_s:.2f}"
        notes = []
        if r.rate_achieved is not None:
            notes.append(f"rate {'achieved' if r.rate_achieved else 'NOT achieved'}")
            notes.append(f"send lag p99 {r.send_lag_p99_ms:.1f} ms")
        if r.exhausted_at is not None:
            notes.append(f"bodies ran out at {r.exhausted_at:.1f}s")
        if db_is_external and r.server == "firebreak":
            notes.append(f"other CPU (PostgreSQL included) {r.other_cpu_pct:.0f}%")
        elif r.other_cpu_pct > OTHER_LOAD_WARN_PCT:
            notes.append(f"OTHER LOAD {r.other_cpu_pct:.0f}% CPU")
        if r.mean_batch_webhooks is not None:
            notes.append(
                f"batch {r.mean_batch_webhooks:.1f} webhooks, commit {r.mean_commit_ms:.1f} ms"
            )
        print(
            f"{r.scenario:<12} {r.server:<9} {_fmt(r.webhooks_per_s):>10} "
            f"{_fmt(r.alerts_per_s, 0):>10} {_fmt(r.p50_ms, 2):>8} {_fmt(r.p99_ms, 2):>8} "
            f"{r.errors:>6} {ratio:>7}  {_fmt(r.server_cpu_pct, 0):>6}% "
            f"{_fmt(r.client_cpu_pct, 0):>7}%  {'; '.join(notes)}"
        )


def evaluate(results: list[Result], db: DbCheck | None) -> list[tuple[str, str, bool]]:
    by = {(r.scenario, r.server): r for r in results}
    checks: list[tuple[str, str, bool]] = []
    fb1, bare1 = by.get(("1-alert", "firebreak")), by.get(("1-alert", "bare"))
    if fb1 and bare1 and bare1.webhooks_per_s > 0:
        ratio = fb1.webhooks_per_s / bare1.webhooks_per_s
        checks.append(
            (
                f"1-alert webhooks/s, Firebreak/bare >= {TARGET_RATIO_1}",
                f"{ratio:.3f} ({fb1.webhooks_per_s:,.0f} / {bare1.webhooks_per_s:,.0f})",
                ratio >= TARGET_RATIO_1,
            )
        )
    fb100 = by.get(("100-alert", "firebreak"))
    if fb100:
        checks.append(
            (
                f"100-alert webhooks, Firebreak alerts/s >= {TARGET_ALERTS_100:,}",
                f"{fb100.alerts_per_s:,.0f}",
                fb100.alerts_per_s >= TARGET_ALERTS_100,
            )
        )
    fbo = next((r for r in results if r.mode == "open" and r.server == "firebreak"), None)
    if fbo:
        checks.append(
            (
                f"Firebreak p99 < {TARGET_P99_OPEN_MS:g} ms at {fbo.target_rate:g} webhooks/s",
                f"{fbo.p99_ms:.2f} ms, rate {'achieved' if fbo.rate_achieved else 'NOT achieved'}",
                bool(fbo.rate_achieved) and fbo.p99_ms < TARGET_P99_OPEN_MS,
            )
        )
    errors = sum(r.errors for r in results)
    checks.append(("no non-200 answers or transport errors", str(errors), errors == 0))
    if db is not None:
        if db.rows is None:
            checks.append(("Firebreak stored every alert it acknowledged", db.how, True))
        else:
            expected = (
                str(db.expected_min)
                if db.expected_min == db.expected_max
                else f"{db.expected_min}..{db.expected_max}"
            )
            checks.append(
                (
                    "Firebreak alert rows == unique alerts acknowledged",
                    f"{db.rows} rows, {expected} expected; webhook rows {db.webhook_rows}"
                    f" (>= {db.webhooks_expected_min}); {db.how}",
                    db.ok,
                )
            )
    return checks


def stored_once_check(rows: int, acknowledged: int, sent: int, how: str) -> tuple[str, str, bool]:
    """The check that every alert acknowledged with a 200 is stored, exactly once."""
    return (
        "every alert acknowledged stored once",
        f"{rows} rows, {acknowledged} acknowledged ({sent} sent); {how}",
        rows == acknowledged == sent,
    )


def report(
    checks: list[tuple[str, str, bool]], json_path: str | None, results: dict[str, Any]
) -> None:
    """Print PASS/FAIL for each check; with ``json_path`` also write ``results`` and them."""
    print()
    for name, value, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    if json_path:
        checked = [{"check": n, "value": v, "pass": ok} for n, v, ok in checks]
        out = {**results, "checks": checked}
        Path(json_path).write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"wrote {json_path}")
