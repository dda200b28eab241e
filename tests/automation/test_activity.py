"""Runbook activity in the serving process's log, read as an operator reads it: the lines the
``firebreak.automation`` logger writes, formatted by the console and JSON formatters ``serve``
uses, with their structured fields. Secrets never appear; values from alerts stay on their
line."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from receiver.obs import ConsoleFormatter, JsonFormatter
from tests.automation.conftest import Target, executions, finished, in_state
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, auth, eventually
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
SECRET = "s3cr3t-restart-token"
ECHO = [sys.executable, "-c", "import sys; print(len(sys.argv))"]


def restart_runbook(url: str) -> str:
    argv = json.dumps([*ECHO, "{{ labels.service }}", "--token={{ params.token }}"])
    return f"""
id: restart-checkout
title: Restart the service that fires
match: ['alertname="HighErrorRate"']
params:
  token: {{default: "{SECRET}", secret: true}}
steps:
  - id: restart
    http:
      method: POST
      url: "{url}/restart/{{{{ labels.service }}}}?auth={{{{ params.token }}}}"
      body: {{why: "{{{{ annotations.summary }}}}", token: "{{{{ params.token }}}}"}}
    retries: 1
    backoff: 100ms
    on_failure: continue
  - id: ask
    approval: {{approvers: [role:admin], timeout: 1h}}
  - id: echo
    shell: {{argv: {argv}}}
    timeout: 5s
  - id: only-for-billing
    when: "labels.service == 'billing'"
    wait: {{duration: 1s}}
"""


def activity(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The lines about executions (not the mode line of the start)."""
    return [
        r for r in caplog.records if r.name == "firebreak.automation" and "execution" in r.__dict__
    ]


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in activity(caplog)]


async def test_an_execution_says_what_each_step_does_and_how_it_went_without_its_secret(
    start: Any, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="firebreak.automation")
    client = await start(restart_runbook(target.url))
    target.status["/restart/checkout"] = 503
    payload = webhook(alert("HighErrorRate", annotations={"summary": "5xx on checkout"}))
    assert (await client.post("/webhook", json=payload, headers=HOOK)).status == 200
    [found] = await eventually(lambda: executions(client))
    eid, alert_id = found["id"], found["alert_id"]
    await in_state(client, eid, "waiting_approval")
    # Alertmanager re-sends the group: nothing new happens, so nothing new is said.
    assert (await client.post("/webhook", json=payload, headers=HOOK)).status == 200
    approve = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(ADMIN_TOKEN))
    assert approve.status == 200, await approve.text()
    record = await finished(client, eid)
    assert record["state"] == "succeeded", record

    name = f"execution {eid} of restart-checkout"
    url = f"{target.url}/restart/checkout?auth=<redacted>"
    post = f'POST {url} body {{"token": "<redacted>", "why": "5xx on checkout"}}'
    argv = " ".join(json.dumps(a) for a in [*ECHO, "checkout", "--token=<redacted>"])
    said = messages(caplog)
    expected = [
        f"{name} created for alert {alert_id} (auto)",
        f"{name} started",
        f"{name}: step restart (http): {post}",
        f"{name}: step restart failed, retrying in 0.1s (attempt 2 of 2): "
        "http status 503, expected 2xx",
        f"{name}: step restart (http) (attempt 2 of 2): {post}",
        "FAILED IN",  # the duration varies: checked below
        "WAITS",
        "APPROVED",
        f"{name}: step echo (shell): argv {argv}",
        "ECHO SUCCEEDED",
        f"{name}: step only-for-billing skipped: when labels.service == 'billing' is false",
        "ENDED",
    ]
    assert len(said) == len(expected), "\n".join(said)
    for line, want in zip(said, expected, strict=True):
        if want == "FAILED IN":
            assert line.startswith(f"{name}: step restart failed in ")
            assert line.endswith("s: http status 503, expected 2xx")
        elif want == "WAITS":
            assert line.startswith(f"{name}: step ask waits for approval by role:admin until 20")
        elif want == "APPROVED":
            assert line.startswith(f"{name}: step ask succeeded in ")
            assert line.endswith("s: approved by api:alice")
        elif want == "ECHO SUCCEEDED":
            assert line.startswith(f"{name}: step echo succeeded in ")
        elif want == "ENDED":
            assert line.startswith(f"{name} succeeded after ")
        else:
            assert line == want

    records = activity(caplog)
    levels = {r.getMessage(): r.levelname for r in records}
    assert levels[said[3]] == "WARNING" and levels[said[5]] == "WARNING"
    assert {levels[line] for line in said if line not in (said[3], said[5])} == {"INFO"}
    for r in records:
        fields = (r.__dict__["execution"], r.__dict__["runbook"], r.__dict__["trigger"])
        assert fields == (eid, "restart-checkout", "auto")
        assert (r.__dict__["dry_run"], r.__dict__["alert"]) == (False, alert_id)
    assert [r.__dict__["step"] for r in records if "step" in r.__dict__] == [
        "restart",
        "restart",
        "restart",
        "restart",
        "ask",
        "ask",
        "echo",
        "echo",
        "only-for-billing",
    ]
    # The secret reached the service (the step needs it) and no log line, in either format.
    assert any(SECRET in r["query"].get("auth", "") for r in target.requests)
    for formatter in (ConsoleFormatter(), JsonFormatter()):
        for r in records:
            assert SECRET not in formatter.format(r)


async def test_a_dry_run_says_what_it_would_do(
    start: Any, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="firebreak.automation")
    guards = f'automation: {{http_allow: ["127.0.0.1"], shell_allow: ["{sys.executable}"]}}\n'
    client = await start(restart_runbook(target.url), extra=guards)  # no mode: a dry run
    payload = webhook(alert("HighErrorRate", annotations={"summary": "5xx on checkout"}))
    assert (await client.post("/webhook", json=payload, headers=HOOK)).status == 200
    [found] = await eventually(lambda: executions(client))
    record = await finished(client, found["id"])
    assert record["dry_run"] is True and target.requests == []
    name = f"execution {found['id']} of restart-checkout"
    said = messages(caplog)
    created = f"{name} created for alert {found['alert_id']} (auto, dry run)"
    assert said[:2] == [created, f"{name} started (dry run)"]
    url = f"{target.url}/restart/checkout?auth=<redacted>"
    assert said[2] == (
        f'{name}: step restart (http) would POST {url} body {{"token": "<redacted>", '
        '"why": "5xx on checkout"}'
    )
    assert said[3] == f"{name}: step ask (approval) would ask role:admin to approve"
    assert said[4].startswith(f'{name}: step echo (shell) would argv "{sys.executable}"')
    assert (
        said[5]
        == f"{name}: step only-for-billing skipped: when labels.service == 'billing' is false"
    )
    assert said[6].startswith(f"{name} succeeded (dry run) after ")
    assert len(said) == 7, said
    assert all(r.__dict__["dry_run"] is True for r in activity(caplog))
    assert not any(SECRET in m for m in said)


HOSTILE = {
    "newline": "web\nFAKE 00:00:00.000 INFO firebreak.automation: step x succeeded",
    "escape": "web\x1b[2J\x1b[31mred",
    "separator": "web\u2028forged line\u0085and another",
    "quote": 'web" "--force',
    "huge": "w" * 60_000,  # templates render at most 64 KiB
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
async def test_a_hostile_label_stays_one_value_on_one_line(
    start: Any, target: Target, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    caplog.set_level(logging.INFO, logger="firebreak.automation")
    runbook = f"""
id: echo
title: Echo the service
match: ['alertname="HighErrorRate"']
cooldown: 1h
steps:
  - id: echo
    shell: {{argv: {json.dumps([*ECHO, "{{ labels.service }}"])}}}
    timeout: 5s
  - id: call
    http: {{method: POST, url: "{target.url}/x", body: {{service: "{{{{ labels.service }}}}"}}}}
"""
    client = await start(runbook)
    payload = webhook(alert("HighErrorRate", labels={"service": value}))
    assert (await client.post("/webhook", json=payload, headers=HOOK)).status == 200
    [found] = await eventually(lambda: executions(client))
    record = await finished(client, found["id"])
    assert record["state"] == "succeeded", record
    # A second occurrence within the cooldown is held back, and says why.
    again = webhook(
        alert("HighErrorRate", labels={"service": value}, starts_at="2026-11-23T09:00:00Z")
    )
    assert (await client.post("/webhook", json=again, headers=HOOK)).status == 200
    held = await eventually(
        lambda: [r for r in activity(caplog) if " held back for alert " in r.getMessage()]
    )
    assert held[0].levelname == "WARNING" and ": cooldown: ran for this alert at " in (
        held[0].getMessage()
    )
    formatter = ConsoleFormatter()
    lines = [formatter.format(r) for r in activity(caplog)]
    for line in lines:
        assert len(line.splitlines()) == 1, line
        assert "\x1b" not in line and "\u2028" not in line and "\x85" not in line
        assert len(line) < 1500
    [argv] = [line for line in lines if ": step echo (shell): argv " in line]
    # The value is the last argument, quoted whole (cut short when huge).
    shown = argv.split(": argv ", 1)[1].split(" execution=", 1)[0]
    assert shown.startswith(" ".join(json.dumps(a) for a in ECHO) + ' "w')
    if value == HOSTILE["escape"]:
        assert shown.endswith(' "web\\u001b[2J\\u001b[31mred"')
    if value == HOSTILE["newline"]:
        assert shown.endswith(
            ' "web\\nFAKE 00:00:00.000 INFO firebreak.automation: step x succeeded"'
        )
    if value == HOSTILE["quote"]:
        assert shown.endswith(' "web\\" \\"--force"')
    if value == HOSTILE["huge"]:
        assert shown.endswith('w"…')
