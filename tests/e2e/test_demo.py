"""`make demo`, headless: a fault in the demo service becomes an alert in Prometheus, goes
through Alertmanager to Firebreak, is notified, the demo-restart runbook heals the service, and
the alert resolves by itself. The sequence is read from Firebreak's store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_make_demo_heals_the_service_end_to_end(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "scripts/demo.py",
            "--headless",
            "--free-ports",
            "--timeout",
            "200",
            "--workdir",
            str(workdir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)
    conn = sqlite3.connect(workdir / "firebreak.db")
    try:
        ((alert_id, status),) = conn.execute(
            "SELECT id, status FROM alerts WHERE alertname = 'DemoHighErrorRatio'"
        ).fetchall()
        events = dict(
            conn.execute(
                "SELECT kind, min(at) FROM alert_events WHERE alert_id = ? GROUP BY kind",
                (alert_id,),
            ).fetchall()
        )
        notified = conn.execute(
            "SELECT min(sent_at) FROM notifications WHERE alert_id = ? AND kind = 'firing'",
            (alert_id,),
        ).fetchone()[0]
        ((runbook, state, dry_run, created, finished),) = conn.execute(
            "SELECT runbook, state, dry_run, created_at, finished_at FROM executions "
            "WHERE alert_id = ?",
            (alert_id,),
        ).fetchall()
        steps = conn.execute(
            "SELECT s.step_id, s.state FROM execution_steps s JOIN executions e "
            "ON s.execution_id = e.id WHERE e.alert_id = ? ORDER BY s.id",
            (alert_id,),
        ).fetchall()
        watchdog_notices = conn.execute(
            "SELECT count(*) FROM notifications n JOIN alerts a ON n.alert_id = a.id "
            "WHERE a.alertname = 'Watchdog'"
        ).fetchone()[0]
    finally:
        conn.close()
    at = datetime.fromisoformat
    assert status == "resolved"
    assert runbook == "demo-restart" and state == "succeeded"
    assert not dry_run  # the demo's configuration sets automation.mode: live
    assert [s for s in steps if s[1] == "succeeded"] == [
        ("restart", "succeeded"),
        ("settle", "succeeded"),
        ("recovered", "succeeded"),
    ]
    # fired -> notified -> runbook started -> runbook succeeded / alert resolved
    assert at(events["fired"]) <= at(notified)
    assert at(events["fired"]) <= at(created) < at(events["resolved"])
    assert at(finished) > at(created)
    assert watchdog_notices == 0  # the dead man's switch's alert is expected, never paged
