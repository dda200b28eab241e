"""No secret leaks: a scenario that touches every integration — webhook, email, PagerDuty and
Slack channels, Grafana, Alertmanager, the PagerDuty and Slack inbound endpoints, with every far
side failing so errors are recorded — and then reads every API answer, every log line (with its
structured fields) and check-config's output, and finds none of the configured secrets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.cli import main
from receiver.config import load_config
from receiver.obs import JsonFormatter
from tests.api.test_escalation import HOOK, eventually
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth, config_text
from tests.payloads import alert, webhook
from tests.ports import free_port

SECRETS = {
    "HOOK_PATH": "pathsecret0123456789",
    "HMAC": "hmacsecret0123456789",
    "HEADER": "headersecret0123456789",
    "SMTP": "smtpsecret0123456789",
    "PD_KEY": "R0UT1NGKEYsecret0123456789ABCDEF",
    "PD_WEBHOOK": "pdwebhooksecret0123456789",
    "SLACK_TOKEN": "xoxb-slacksecret0123456789",
    "SIGNING": "signingsecret0123456789",
    "GRAFANA": "glsa_grafanasecret0123456789",
    "AM_TOKEN": "amsecret0123456789",
}


def _scenario_config(port: int) -> str:
    dead = f"http://127.0.0.1:{port}"
    return f"""
channels:
  hook:
    type: webhook
    webhook:
      url: "{dead}/hook/${{HOOK_PATH}}"
      secret: "${{HMAC}}"
      headers: {{X-Api-Key: "${{HEADER}}"}}
      timeout: 1s
  mail:
    type: email
    email: {{host: 127.0.0.1, port: {port}, starttls: false, username: ops,
             password: "${{SMTP}}", sender: fb@example.org, to: [oncall@example.org], timeout: 1s}}
  pd:
    type: pagerduty
    pagerduty: {{routing_keys: {{default: "${{PD_KEY}}"}}, api_url: "https://127.0.0.1:{port}"}}
  chat:
    type: slack
    slack: {{channel: C0123456789}}
slack:
  bot_token: "${{SLACK_TOKEN}}"
  signing_secret: "${{SIGNING}}"
  api_url: "{dead}/api/"
pagerduty: {{webhook_secrets: ["${{PD_WEBHOOK}}"]}}
grafana: {{url: "{dead}", token: "${{GRAFANA}}"}}
alertmanager: {{url: "{dead}", bearer_token: "${{AM_TOKEN}}", reconcile_interval: 200ms}}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [hook, mail, pd, chat]}}]
jobs: {{workers: 4, lease: 5s, max_attempts: 2, backoff_initial: 50ms, backoff_max: 100ms,
        poll_interval: 100ms}}
"""


@pytest.fixture
def scenario_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "firebreak.yml"
    path.write_text(
        config_text(f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}", _scenario_config(free_port()))
    )
    return path


async def test_no_secret_in_any_answer_log_line_or_check_config_output(
    aiohttp_client: Any,
    scenario_file: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    config = load_config(scenario_file)
    client = await aiohttp_client(
        create_app(config, registry=CollectorRegistry(), config_path=str(scenario_file))
    )
    seen: list[str] = []

    async def call(method: str, path: str, **kwargs: Any) -> Any:
        resp = await client.request(method, path, **kwargs)
        seen.append(f"{method} {path} {resp.status} {dict(resp.headers)} {await resp.text()}")
        return resp

    assert (await call("POST", "/webhook", json=webhook(alert("Leak")), headers=HOOK)).status == 200
    await call("POST", "/webhook", json=webhook(alert("Leak")), headers=auth("wrong"))
    await call(
        "POST",
        "/integrations/pagerduty/webhook",
        data=b"{}",
        headers={"Content-Type": "application/json", "X-PagerDuty-Signature": "v1=00"},
    )
    await call(
        "POST",
        "/slack/events",
        data=b"command=/firebreak&text=alerts",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": "1",
            "X-Slack-Signature": "v0=00",
        },
    )

    async def failures_recorded() -> bool:
        resp = await client.get("/api/v1/jobs?limit=200", headers=auth(VIEWER_TOKEN))
        jobs = (await resp.json())["jobs"]
        errors = [j for j in jobs if j["last_error"]]
        kinds = {j["payload"].get("channel") for j in errors if j["kind"] == "notify"}
        return {"hook", "mail", "pd", "chat"} <= kinds

    await eventually(failures_recorded, within=20)
    listing = await (await call("GET", "/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json()
    alert_id = listing["alerts"][0]["id"]
    await call("POST", f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN))
    for path, token in [
        (f"/api/v1/alerts/{alert_id}", VIEWER_TOKEN),
        ("/api/v1/jobs?limit=500", VIEWER_TOKEN),
        ("/api/v1/jobs?state=dead", VIEWER_TOKEN),
        ("/health/detailed", VIEWER_TOKEN),
        ("/debug/circuit-breakers", VIEWER_TOKEN),
        ("/api/v1/audit", ADMIN_TOKEN),
        ("/api/v1/runbooks", VIEWER_TOKEN),
        ("/metrics", VIEWER_TOKEN),
    ]:
        assert (await call("GET", path, headers=auth(token))).status == 200, path
    await call("POST", "/-/reload", headers=auth(ADMIN_TOKEN))

    assert main(["check-config", "--config", str(scenario_file)]) == 0
    printed = capsys.readouterr()
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any("hook" in line for line in lines), "the scenario logged nothing about sends"
    haystacks = {
        "answers": "\n".join(seen),
        "logs": "\n".join(lines),
        "check-config": printed.out + printed.err,
    }
    for where, text in haystacks.items():
        for name, secret in SECRETS.items():
            assert secret not in text, f"{name} leaked into {where}"
