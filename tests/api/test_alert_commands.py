"""``firebreak alerts`` beside a serving process on the same database: the command line lists,
shows, acknowledges, resolves and snoozes what the server stored, through the same actions as
the API, and the server sends the notices those actions enqueue."""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.cli import main
from receiver.config import load_config
from tests.api.test_escalation import escalation_config
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, config_text, eventually
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.payloads import alert, webhook

USER = getpass.getuser()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
async def serving(tmp_path: Path, receiver: WebhookReceiver) -> tuple[Any, str]:
    """A config file on a SQLite database, and the serving process's test client."""
    path = tmp_path / "firebreak.yml"
    url = f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}"
    path.write_text(config_text(url, escalation_config(receiver.url, group_window="0s")))
    return load_config(path, env={}), str(path)


async def test_alerts_commands_act_on_what_the_server_stored(
    aiohttp_client: Any,
    serving: tuple[Any, str],
    receiver: WebhookReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, c = serving
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    body = webhook(
        alert("DiskFull", labels={"severity": "critical"}),
        alert("SlowQueries", labels={"severity": "warning"}),
    )
    resp = await client.post("/webhook", json=body, headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 200
    await eventually(lambda: len(receiver.requests) >= 1)

    code, out = await cli(capsys, "alerts", "list", "--config", c)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "SINCE", "SEVERITY", "ALERTNAME", "STATE"]
    assert [line.split()[1] for line in lines[1:]] == ["firing", "firing"]
    code, out = await cli(capsys, "alerts", "list", "severity=critical", "--json", "--config", c)
    assert code == 0, out
    (disk,) = json.loads(out)
    assert disk["labels"]["alertname"] == "DiskFull"
    code, out = await cli(capsys, "alerts", "list", "--status", "resolved", "--config", c)
    assert code == 0 and len(out.splitlines()) == 1  # the header only
    slow = next(
        a
        for a in (await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json())[
            "alerts"
        ]
        if a["labels"]["alertname"] == "SlowQueries"
    )

    code, out = await cli(
        capsys, "alerts", "ack", str(disk["id"]), "--note", "on it", "--config", c
    )
    assert code == 0 and f"acknowledged by {USER}" in out, out
    code, out = await cli(capsys, "alerts", "snooze", str(slow["id"]), "30m", "--config", c)
    assert code == 0 and "snoozed until" in out, out
    code, out = await cli(capsys, "alerts", "resolve", str(disk["id"]), "--config", c)
    assert code == 0 and f"resolved by {USER}" in out, out

    # The serving process sends the resolved notice the command enqueued.
    def resolved() -> bool:
        return any(receiver.json(i)["kind"] == "resolved" for i in range(len(receiver.requests)))

    await eventually(resolved)
    code, out = await cli(capsys, "alerts", "show", str(disk["id"]), "--config", c)
    assert code == 0, out
    history = [line.split()[2:4] for line in out.splitlines() if line.startswith("  20")]
    assert ["acknowledged", f"cli:{USER}"] in history
    assert ["manually_resolved", f"cli:{USER}"] in history
    assert "on it" in out and 'severity="critical"' in out
    detail = await (
        await client.get(f"/api/v1/alerts/{slow['id']}", headers=auth(VIEWER_TOKEN))
    ).json()
    assert detail["snoozed_until"] is not None and detail["events"][-1]["actor"] == f"cli:{USER}"
    audit = await client.get("/api/v1/audit?actor=cli:" + USER, headers=auth(ADMIN_TOKEN))
    rows = [(e["action"], e["interface"], e["outcome"]) for e in (await audit.json())["entries"]]
    assert rows == [
        ("resolve", "cli", "ok"),
        ("snooze", "cli", "ok"),
        ("acknowledge", "cli", "ok"),
    ]


async def test_alerts_commands_name_what_is_wrong_and_change_nothing(
    aiohttp_client: Any, serving: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, c = serving
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    resp = await client.post("/webhook", json=webhook(alert("A")), headers=auth(WEBHOOK_TOKEN))
    assert resp.status == 200
    (found,) = (await (await client.get("/api/v1/alerts", headers=auth(VIEWER_TOKEN))).json())[
        "alerts"
    ]
    cases = {
        ("ack", "9999"): "firebreak alerts ack: alert 9999 does not exist",
        ("snooze", str(found["id"]), "9d"): "DURATION: expected a duration above 0 and at most 7d",
        ("list", "severity"): "MATCHER: ",
        ("list", "--status", "open"): '--status: expected "firing" or "resolved", got "open"',
        ("list", "--limit", "0"): "--limit: expected an integer from 1 to 1000",
    }
    for argv, expected in cases.items():
        code, out = await cli(capsys, "alerts", *argv, "--config", c)
        assert code == 1 and expected in out, (argv, out)
    detail = await (
        await client.get(f"/api/v1/alerts/{found['id']}", headers=auth(VIEWER_TOKEN))
    ).json()
    assert detail["snoozed_until"] is None and detail["acknowledged_at"] is None
