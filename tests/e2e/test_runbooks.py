"""Runbooks in the real process: a real Alertmanager's firing alert starts its runbook once
however often the group is re-sent, and a process killed in the middle of a step resumes
the execution when it comes back — an idempotent step runs again, any other is marked
interrupted and its execution rolls back."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    Alertmanager,
    FirebreakServer,
    http,
    start_firebreak,
    wait_until,
)

pytestmark = pytest.mark.e2e

APPEND = "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + chr(10))"
SLOW = APPEND + "; import time; time.sleep(2.5); open(sys.argv[1], 'a').write('end' + chr(10))"


def shell(journal: Path, code: str, *words: str) -> str:
    return json.dumps([sys.executable, "-c", code, str(journal), *words])


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal.txt"


@pytest.fixture
def firebreak_extra_config(tmp_path: Path, journal: Path) -> str:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "note.yml").write_text(
        f"""
id: note
title: Note the alert
match: 'alertname="RunbookTest"'
steps:
  - id: note
    timeout: 2s
    shell: {{argv: {shell(journal, APPEND, "fired", "{{ labels.instance }}")}}}
"""
    )
    for name, idempotent in (("careful", "false"), ("rerun", "true")):
        (books / f"{name}.yml").write_text(
            f"""
id: {name}
title: Two steps, the second slow
steps:
  - id: a
    timeout: 2s
    shell: {{argv: {shell(journal, APPEND, name, "a")}}}
    rollback:
      timeout: 2s
      shell: {{argv: {shell(journal, APPEND, name, "undo-a")}}}
  - id: b
    idempotent: {idempotent}
    timeout: 3s
    on_failure: rollback
    shell: {{argv: {shell(journal, SLOW, name, "b")}}}
"""
        )
    return f"""
automation: {{mode: live, runbooks: "{books}/*.yml", shell_allow: ["{sys.executable}"]}}
jobs: {{lease: 4s, poll_interval: 200ms, backoff_initial: 100ms, backoff_max: 1s}}
"""


def lines(journal: Path) -> list[str]:
    return journal.read_text().splitlines() if journal.exists() else []


def test_a_real_alertmanager_starts_the_runbook_once(
    alertmanager: Alertmanager, firebreak_server: FirebreakServer, journal: Path
) -> None:
    alertmanager.post_alerts(
        [{"labels": {"alertname": "RunbookTest", "instance": "db-1", "severity": "page"}}]
    )
    # Alertmanager sends the group, then again every repeat_interval: wait for re-sends.
    wait_until(
        lambda: firebreak_server.metric("firebreak_webhook_requests_total", 'code="200"') >= 3,
        timeout=30,
        what="three webhooks from Alertmanager",
    )
    found = wait_until(firebreak_server.executions, timeout=10, what="an execution")
    wait_until(
        lambda: firebreak_server.executions()[0]["state"] == "succeeded",
        timeout=10,
        what="the execution to succeed",
    )
    assert len(found) == 1
    assert found[0]["trigger"] == "auto" and found[0]["runbook"] == "note"
    assert lines(journal) == ["fired db-1"]
    # The serving process's own log: its mode at start, then each event once, however often
    # Alertmanager re-sent the group.
    log = firebreak_server.log_path.read_text()
    assert " INFO    firebreak.automation: automation: live — 1 runbook acts by itself: note" in (
        log
    )
    eid, alert_id = found[0]["id"], found[0]["alert_id"]
    name = f"execution {eid} of note"
    argv = " ".join(json.dumps(a) for a in json.loads(shell(journal, APPEND, "fired", "db-1")))
    said = [line.split(": ", 1)[1] for line in log.splitlines() if f" {name}" in line]
    assert [line.split(" execution=", 1)[0] for line in said[:4]] == [
        f"{name} created for alert {alert_id} (auto)",
        f"{name} started",
        f"{name}: step note (shell): argv {argv}",
        f"{name}: step note succeeded in " + said[3].split(" succeeded in ", 1)[1].split(" ")[0],
    ]
    assert said[4].startswith(f"{name} succeeded after ") and len(said) == 5, said
    assert f"execution={eid} runbook=note trigger=auto dry_run=False alert={alert_id}" in said[0]


def test_a_process_killed_mid_step_resumes_its_executions(
    firebreak_server: FirebreakServer, journal: Path
) -> None:
    ids = {}
    for name in ("careful", "rerun"):
        status, body = http(
            "POST",
            f"{firebreak_server.url}/api/v1/runbooks/{name}/execute",
            token=firebreak_server.admin_token,
            body={},
        )
        assert status == 202, body
        ids[name] = json.loads(body)["id"]
    wait_until(
        lambda: {"careful b", "rerun b"} <= set(lines(journal)),
        timeout=10,
        what="both slow steps to start",
    )
    firebreak_server.proc.send_signal(signal.SIGKILL)
    firebreak_server.proc.wait(10)
    firebreak_server.proc = start_firebreak(
        firebreak_server.config_path, firebreak_server.url, firebreak_server.log_path
    )

    def ended() -> dict[str, Any] | None:
        found = {e["runbook"]: e for e in firebreak_server.executions()}
        done = all(e["state"] not in ("running", "pending") for e in found.values())
        return found if done else None

    found = wait_until(ended, timeout=30, what="both executions to end")
    assert found["careful"]["state"] == "rolled_back"
    assert found["rerun"]["state"] == "succeeded"
    careful = firebreak_server.get_json(f"/api/v1/executions/{ids['careful']}")
    b = next(s for s in careful["steps"] if s["step_id"] == "b")
    assert b["state"] == "interrupted"
    assert b["error"].startswith("interrupted: the process stopped while the step was running")
    journal_lines = lines(journal)
    assert [line for line in journal_lines if line.startswith("careful")] == [
        "careful a",
        "careful b",
        "careful undo-a",
    ]
    assert [line for line in journal_lines if line.startswith("rerun")] == [
        "rerun a",
        "rerun b",
        "rerun b",
    ]
    # The log of both processes says what became of the step the kill cut short.
    log = firebreak_server.log_path.read_text()
    assert f"execution {ids['rerun']} of rerun: step b (shell) (again: the process stopped" in log
    careful_b = f" WARNING firebreak.automation: execution {ids['careful']} of careful: step b "
    assert careful_b + "interrupted in " in log
