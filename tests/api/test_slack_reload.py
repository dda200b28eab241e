"""Slack answers from the configuration in force: after ``/-/reload`` the slash command sees the
new routes, runbooks and people, as the REST API does, without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import load_config
from tests.conftest import ADMIN_TOKEN, auth, config_text
from tests.fakes.slack import SlackFake
from tests.slack_helpers import ALICE, VIEWER, slack_config, slash_answer

RUNBOOK = """
id: {id}
title: {title}
automatic: false
steps:
  - id: settle
    wait: {{duration: 100ms}}
"""
ONCALL = """
automation: {runbooks: "runbooks/*.yml"}
people:
  - {id: alice, name: Alice Archer, slack_user_id: U0ALICE}
schedules:
  - id: payments
    name: Payments primary
    layers:
      - {members: [alice], shift: weekly, start: "2026-01-05"}
"""


async def test_slack_answers_from_the_configuration_in_force_after_a_reload(
    aiohttp_client: Any, sqlite_url: str, tmp_path: Path, slack: SlackFake
) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "restart.yml").write_text(
        RUNBOOK.format(id="restart-db", title="Restart the database")
    )
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(sqlite_url, slack_config(slack) + ONCALL))
    app = create_app(load_config(path), registry=CollectorRegistry(), config_path=str(path))
    client = await aiohttp_client(app)
    routes = (await slash_answer(client, slack, "oncall service=db", VIEWER))["text"]
    assert "Route `all` → policy `oncall`" in routes
    listed = (await slash_answer(client, slack, "runbooks", VIEWER))["text"]
    assert "`restart-db`" in listed and "`drain-node`" not in listed

    (tmp_path / "runbooks" / "drain.yml").write_text(
        RUNBOOK.format(id="drain-node", title="Drain a node")
    )
    changed = slack_config(slack).replace("name: all", "name: everything")
    changed += ONCALL.replace("name: Alice Archer", "name: Alice Abbott")
    path.write_text(config_text(sqlite_url, changed))
    resp = await client.post("/-/reload", headers=auth(ADMIN_TOKEN))
    assert resp.status == 200, await resp.text()

    routes = (await slash_answer(client, slack, "oncall service=db", VIEWER))["text"]
    assert "Route `everything` → policy `oncall`" in routes
    listed = (await slash_answer(client, slack, "runbooks", VIEWER))["text"]
    assert "`restart-db`" in listed and "`drain-node`" in listed
    started = (await slash_answer(client, slack, "run drain-node", ALICE))["text"]
    assert started.startswith(f"<@{ALICE[0]}> started runbook `drain-node`: execution ")
    override = (await slash_answer(client, slack, "override payments me 1h", ALICE))["text"]
    assert override.startswith("Alice Abbott is on call for *Payments primary* until ")
