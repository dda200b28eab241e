"""``firebreak runbooks`` and ``firebreak automation`` beside a serving process on the same
database: the CLI starts, approves, inspects and cancels what the server runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.cli import main
from receiver.config import load_config
from tests.automation.conftest import JOBS, Target, finished, in_state
from tests.conftest import config_text


@pytest.fixture
def config_file(tmp_path: Path, target: Target) -> Path:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "guarded.yml").write_text(
        f"""
id: guarded
title: Guarded restart
params:
  service: {{default: web}}
steps:
  - id: ask
    approval: {{approvers: [role:admin]}}
  - id: restart
    timeout: 2s
    http: {{method: POST, url: "{target.url}/restart/{{{{ params.service }}}}"}}
"""
    )
    (books / "slow.yml").write_text(
        "id: slow\ntitle: Slow\nsteps:\n  - {id: hold, wait: {duration: 1h}}\n"
    )
    path = tmp_path / "firebreak.yml"
    extra = JOBS + 'automation: {runbooks: "runbooks/*.yml", http_allow: "127.0.0.1"}\n'
    path.write_text(config_text(f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}", extra))
    return path


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


async def test_runbooks_commands_drive_a_serving_process(
    aiohttp_client: Any, config_file: Path, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(config_file, env={})
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    c = str(config_file)
    code, out = await cli(capsys, "runbooks", "list", "--config", c)
    assert code == 0 and "guarded" in out and "manual" in out
    code, out = await cli(capsys, "runbooks", "show", "guarded", "--config", c)
    assert code == 0 and '"type": "approval"' in out
    code, out = await cli(
        capsys, "runbooks", "run", "guarded", "--param", "service=api", "--config", c
    )
    assert code == 0, out
    eid = int(out.split()[1].rstrip(":"))
    await in_state(client, eid, "waiting_approval")
    code, out = await cli(capsys, "runbooks", "approve", str(eid), "--config", c)
    assert code == 0, out
    record = await finished(client, eid)
    assert record["state"] == "succeeded"
    assert record["steps"][0]["decided_by"].startswith("cli:")
    assert target.paths() == ["/restart/api"]
    code, out = await cli(capsys, "runbooks", "status", str(eid), "--config", c)
    assert code == 0 and f"execution {eid} of guarded: succeeded" in out
    code, out = await cli(capsys, "runbooks", "run", "slow", "--config", c)
    slow = int(out.split()[1].rstrip(":"))
    code, out = await cli(
        capsys, "runbooks", "cancel", str(slow), "--reason", "not needed", "--config", c
    )
    assert code == 0 and "cancelled" in out
    code, out = await cli(capsys, "runbooks", "cancel", str(slow), "--config", c)
    assert code == 1 and "has ended" in out
    code, out = await cli(capsys, "runbooks", "show", "nope", "--config", c)
    assert code == 1 and "runbook nope does not exist" in out


def _audit_rows(config_file: Path) -> list[tuple[str, str, str, str]]:
    """The audit rows in the database the configuration names (SQLite)."""
    import sqlite3

    from receiver.config import load_config

    url = load_config(config_file).database.url
    conn = sqlite3.connect(url.split(":///", 1)[1])
    try:
        return conn.execute(
            "SELECT action, interface, outcome, actor FROM audit_log ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


async def test_automation_pause_and_resume(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = str(config_file)
    code, out = await cli(capsys, "automation", "pause", "--reason", "incident", "--config", c)
    assert code == 0 and '"paused": true' in out
    code, out = await cli(capsys, "automation", "status", "--config", c)
    assert '"paused": true' in out and '"reason": "incident"' in out
    code, out = await cli(capsys, "automation", "resume", "--config", c)
    assert code == 0 and '"paused": false' in out
    # Both are in the audit trail, as actions taken from the command line.
    rows = _audit_rows(config_file)
    assert [(r[0], r[1], r[2]) for r in rows] == [("pause", "cli", "ok"), ("resume", "cli", "ok")]
    assert all(r[3].startswith("cli:") for r in rows)


async def test_firebreak_drill_goes_through_the_serving_process(
    tmp_path: Path, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiohttp.test_utils import TestServer

    from tests.e2e.conftest import free_port

    port = free_port()
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "restart.yml").write_text(
        f"""
id: restart
title: Restart
match: 'alertname="HighErrorRate"'
steps:
  - id: restart
    timeout: 2s
    http: {{method: POST, url: "{target.url}/restart/{{{{ labels.service }}}}"}}
"""
    )
    path = tmp_path / "firebreak.yml"
    extra = JOBS + 'automation: {runbooks: "runbooks/*.yml", http_allow: "127.0.0.1"}\n'
    text = config_text(f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}", extra)
    path.write_text(text.replace("127.0.0.1:9095", f"127.0.0.1:{port}"))
    app = create_app(load_config(path, env={}), registry=CollectorRegistry())
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        code, out = await cli(
            capsys, "drill", "restart", "--label", "service=web", "--config", str(path)
        )
        assert code == 0, out
        assert "PASS" in out and "dry run" in out and "first_step_started" in out
        assert target.requests == []
        code, out = await cli(capsys, "drill", "restart", "--live", "--config", str(path))
        assert code == 1 and "FAIL" in out  # the runbook needs a service label: its step failed
        code, out = await cli(
            capsys, "drill", "restart", "--live", "--label", "service=api", "--config", str(path)
        )
        assert code == 0, out
        assert target.paths() == ["/restart/api"]
    finally:
        await server.close()


def test_check_config_reports_runbook_problems_by_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "ok.yml").write_text("id: ok\ntitle: OK\nsteps: [{id: w, wait: {duration: 1s}}]\n")
    (books / "bad.yml").write_text(
        "id: bad\ntitle: Bad\nsteps:\n  - id: s\n    shell: {argv: ['{{ oops']}\n"
        "  - id: h\n    http: {url: 'http://x', method: FETCH}\n"
    )
    path = tmp_path / "firebreak.yml"
    path.write_text('automation: {runbooks: "runbooks/*.yml"}\n')
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err
    assert f"{books / 'bad.yml'}:5:20: steps[0].shell.argv[0]: template syntax error" in err
    assert f"{books / 'bad.yml'}:7:29: steps[1].http.method: expected one of GET" in err
    (books / "bad.yml").unlink()
    assert main(["check-config", "--config", str(path)]) == 0
    assert "  runbooks: 1\n" in capsys.readouterr().out
