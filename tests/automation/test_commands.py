"""``firebreak runbooks`` and ``firebreak automation`` beside a serving process on the same
database: the CLI starts, approves, inspects and cancels what the server runs."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.cli import main
from receiver.config import load_config
from tests.automation.conftest import JOBS, Target, finished, in_state
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, config_text, eventually
from tests.payloads import alert, webhook

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path: Path, target: Target) -> Path:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "guarded.yml").write_text(
        f"""
id: guarded
title: Guarded restart
params:
  service: {{default: web, settable: true, pattern: '[a-z]+'}}
  region: {{default: eu}}
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
    for given, refusal in (
        ("region=us", "params.region: not settable at a manual run"),
        ("service=--all", "params.service: expected a value matching [a-z]+"),
    ):
        code, out = await cli(capsys, "runbooks", "run", "guarded", "--param", given, "--config", c)
        assert code == 1 and refusal in out, out
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
    assert code == 0 and "cancelled" in out, out
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


SHOWN = """
id: restart
title: Restart the service that fires
match: ['alertname="HighErrorRate"', 'service="checkout"']
params:
  token: {default: "s3cr3t-cli-token", secret: true}
  replicas: {type: int, default: 3}
steps:
  - id: health
    http: {url: "TARGET/health"}
  - id: restart
    http:
      method: POST
      url: "TARGET/restart/{{ labels.service }}"
      body: {reason: "{{ annotations.summary }}", token: "{{ params.token }}"}
  - id: scale
    shell: {argv: [scale, "{{ labels.service }}={{ params.replicas }}", "--why", "a b"]}
  - id: check
    promql: {query: 'rate(errors{service="{{ labels.service }}"}[1m])', expect: "< 0.01"}
  - id: hush
    silence: {max_duration: 1h}
"""


async def test_a_dry_run_from_the_cli_shows_what_each_step_would_do(
    aiohttp_client: Any, tmp_path: Path, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "restart.yml").write_text(SHOWN.replace("TARGET", target.url))
    path = tmp_path / "firebreak.yml"
    extra = JOBS + (
        'automation: {runbooks: "runbooks/*.yml", http_allow: "127.0.0.1", '
        "prometheus_url: 'http://127.0.0.1:9', alertmanager_url: 'http://127.0.0.1:9'}\n"
    )
    path.write_text(config_text(f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}", extra))
    client = await aiohttp_client(
        create_app(load_config(path, env={}), registry=CollectorRegistry())
    )
    c = str(path)
    code, out = await cli(capsys, "runbooks", "list", "--config", c)
    # No automation.mode: alerts start it as a dry run.
    assert code == 0 and out.startswith("restart                      dry-run  5 steps  "), out

    # No alert given: a sample one, from the runbook's matchers, and the params' defaults.
    code, out = await cli(capsys, "runbooks", "run", "restart", "--dry-run", "--config", c)
    assert code == 0, out
    eid = int(out.split()[1].rstrip(":"))
    lines = out.splitlines()
    assert lines[0] == f"execution {eid}: pending (dry run)"
    assert lines[1] == f"execution {eid} of restart: succeeded (dry run)"
    assert lines[3] == (
        '  sample alert: alertname="HighErrorRate" service="checkout" (no alert was given: '
        "labels from the runbook's = matchers, a placeholder summary)"
    )
    assert lines[4] == "  params: token=<redacted> replicas=3"
    body = '{"reason": "sample alert for a dry run of restart", "token": "<redacted>"}'
    would = [line.strip() for line in lines if line.strip().startswith("would ")]
    assert would == [
        f"would GET {target.url}/health",
        f"would POST {target.url}/restart/checkout body {body}",
        # The allow-lists are what a live run would meet: the dry run says so.
        'would argv "scale" "checkout=3" "--why" "a b" — refused when live: '
        "'scale' is not a program on Firebreak's PATH",
        'would query "rate(errors{service=\\"checkout\\"}[1m])" expecting < 0.01',
        'would silence {alertname="HighErrorRate", service="checkout"} for 1h',
    ]
    assert "s3cr3t-cli-token" not in out and target.requests == []
    code, status = await cli(capsys, "runbooks", "status", str(eid), "--config", c)
    assert code == 0 and status.splitlines() == lines[1:]

    # For a stored alert: its labels and annotations, no sample.
    payload = webhook(alert("HighErrorRate", annotations={"summary": "5xx on checkout"}))
    hook = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    assert (await client.post("/webhook", json=payload, headers=hook)).status == 200
    [stored] = await eventually(lambda: alert_ids(client))
    code, out = await cli(
        capsys, "runbooks", "run", "restart", "--dry-run", "--alert", str(stored), "--config", c
    )
    assert code == 0, out
    assert f"\n  alert: {stored}\n" in out and "sample alert" not in out
    assert '"reason": "5xx on checkout"' in out
    assert target.requests == []


FROM_LABELS = """
id: by-label
title: Restart the service the alert names
match: ['alertname="HighErrorRate"']
params:
  service: {from: labels.service, required: true, settable: true, pattern: '[a-z]+'}
  instance: {from: labels.instance, required: true}
steps:
  - id: restart
    http: {method: POST, url: "http://127.0.0.1:9/restart/{{ params.service }}"}
"""


async def test_a_dry_run_for_no_alert_says_what_its_sample_alert_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "by-label.yml").write_text(FROM_LABELS)
    path = tmp_path / "firebreak.yml"
    extra = JOBS + 'automation: {runbooks: "runbooks/*.yml", http_allow: "127.0.0.1"}\n'
    path.write_text(config_text(f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}", extra))
    c = str(path)
    code, out = await cli(capsys, "runbooks", "run", "by-label", "--dry-run", "--config", c)
    # Nobody gave an alert: the message speaks of the sample, and of the ways to a value.
    assert code == 1
    assert out.strip() == (
        "firebreak runbooks: params.service: required: it is read from labels.service, and "
        "this dry run for no alert renders with a sample alert, which has no label service; "
        "give it at the run (service=VALUE) or name an alert to run it for"
    )
    code, out = await cli(
        capsys, "runbooks", "run", "by-label", "--dry-run", "--param", "service=web", "--config", c
    )
    assert code == 1
    assert out.strip() == (
        "firebreak runbooks: params.instance: required: it is read from labels.instance, and "
        "this dry run for no alert renders with a sample alert, which has no label instance; "
        "name an alert to run it for"
    )


async def test_the_example_configurations_dry_runs_say_what_a_live_run_would_meet(
    aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # firebreak.example.yml as shipped (only polling sooner), its allow-lists empty.
    text = (ROOT / "firebreak.example.yml").read_text()
    assert "  http_allow: []\n" in text and "  shell_allow: []\n" in text
    path = tmp_path / "firebreak.example.yml"
    path.write_text(text.replace("poll_interval: 5s", "poll_interval: 200ms"))
    (tmp_path / "runbooks").symlink_to(ROOT / "runbooks")
    config = load_config(path, env={})
    await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    c = str(path)
    code, out = await cli(capsys, "runbooks", "run", "demo-restart", "--dry-run", "--config", c)
    assert code == 0, out
    assert (
        "would POST http://127.0.0.1:8080/admin/restart — refused when live: 127.0.0.1 port "
        "8080 is not on automation.http_allow"
    ) in out.splitlines()[6]
    assert "succeeded (dry run)" in out.splitlines()[1]  # a dry run itself is not refused
    code, out = await cli(
        capsys, "runbooks", "run", "scale-out", "--dry-run", "--param", "service=api", "--config", c
    )
    assert code == 0, out
    (scale,) = [line for line in out.splitlines() if 'would argv "docker"' in line]
    assert re.search(
        r" — refused when live: 'docker' (is not a program on Firebreak's PATH|\(\S+\) is not on "
        r"automation\.shell_allow; it allows nothing \(it is empty\))$",
        scale,
    ), scale


async def alert_ids(client: Any) -> list[int]:
    resp = await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {VIEWER_TOKEN}"})
    return [a["id"] for a in (await resp.json())["alerts"]]


@pytest.mark.parametrize("how", ["--dry-run", "--wait"])
async def test_a_run_nobody_serves_says_so_at_its_timeout(
    config_file: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    started = time.monotonic()
    code, out = await cli(
        capsys, "runbooks", "run", "slow", how, "--timeout", "1s", "--config", str(config_file)
    )
    assert time.monotonic() - started >= 1.0  # it looked for the whole second
    assert code == 1
    eid = out.split()[1].rstrip(":")
    dry = " (dry run)" if how == "--dry-run" else ""
    assert out.splitlines()[0] == f"execution {eid}: pending{dry}"
    assert (
        f"firebreak runbooks run: execution {eid} has not run yet: `firebreak serve` on this "
        f"database runs it; see `firebreak runbooks status {eid}`"
    ) in out


async def test_a_timeout_that_is_no_duration_is_refused_before_anything_runs(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        await cli(
            capsys, "runbooks", "run", "slow", "--timeout", "soon", "--config", str(config_file)
        )
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "argument --timeout" in err and "expected a duration such as 30s" in err, err
