"""`make demo`, headless: a fault in the demo service becomes an alert in Prometheus, goes
through Alertmanager to Firebreak, is notified, the demo-restart runbook heals the service, and
the alert resolves by itself. The sequence is read from Firebreak's store."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, FirebreakServer, free_port

pytestmark = pytest.mark.e2e


@pytest.mark.long  # about 90 s: its alert waits out the demo's one-minute rate window
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


# --- its ports: taken ones replaced, and a process that cannot listen named with why ----------


def _demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("firebreak_demo", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo() -> ModuleType:
    return _demo_module()


def test_the_demo_uses_a_free_port_where_the_standard_one_is_taken_and_says_so(
    demo: ModuleType, held_port: int
) -> None:
    free = free_port()
    ports, notes = demo.pick_ports({"firebreak": held_port, "prometheus": free})
    assert ports["prometheus"] == free
    assert ports["firebreak"] not in (held_port, free)
    assert notes == [
        f"port {held_port} (firebreak) is taken; firebreak uses {ports['firebreak']} instead"
    ]
    with socket.socket() as sock:  # the port it chose is one a process can listen on
        sock.bind(("127.0.0.1", ports["firebreak"]))


# The binaries of the processes a test does not start.
NOT_STARTED = {"prometheus": "prometheus", "alertmanager": "alertmanager"}


def _stack(demo: ModuleType, workdir: Path, **taken: int) -> Any:
    ports = {name: free_port() for name in demo.STANDARD_PORTS}
    stack = demo.Stack(workdir, {**ports, **taken})
    workdir.mkdir()
    stack.write_configs()
    return stack


def test_the_demo_does_not_take_another_firebreak_for_its_own_and_says_why(
    demo: ModuleType, firebreak_server: FirebreakServer, tmp_path: Path
) -> None:
    foreign = int(firebreak_server.url.rsplit(":", 1)[1])
    stack = _stack(demo, tmp_path / "demo", firebreak=foreign)
    try:
        with pytest.raises(RuntimeError) as info:
            stack.start_one("firebreak", stack.commands(NOT_STARTED)["firebreak"])
    finally:
        stack.stop()
    message = str(info.value)
    assert message.startswith(
        f"gave up waiting for firebreak to start on http://127.0.0.1:{foreign}: the process "
        f"exited: firebreak serve: cannot listen on 127.0.0.1:{foreign}: address already in use"
    )
    assert message.endswith(f"(log: {tmp_path / 'demo' / 'firebreak.log'})")


def test_a_prometheus_that_cannot_listen_is_named_with_its_own_words(
    demo: ModuleType, held_port: int, tmp_path: Path
) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("Prometheus is not installed; install it with `scripts/system-deps.sh test`")
    stack = _stack(demo, tmp_path / "demo", prometheus=held_port)
    try:
        with pytest.raises(RuntimeError) as info:
            commands = stack.commands({**NOT_STARTED, "prometheus": prometheus})
            stack.start_one("prometheus", commands["prometheus"])
    finally:
        stack.stop()
    message = str(info.value)
    assert message.startswith(
        f"gave up waiting for prometheus to start on http://127.0.0.1:{held_port}: "
    )
    assert "address already in use" in message
