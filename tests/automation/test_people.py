"""The people directory: a person who acts from Slack and from an API token is one actor
(``person:<id>``) and one approver, for four eyes too; the audit trail names the person; a
token naming a person nobody defined is a configuration error."""

from __future__ import annotations

import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import parse_config
from receiver.errors import ConfigError
from tests.automation.conftest import execution, finished, in_state, runbooks
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, auth, config_text, eventually
from tests.fakes.slack import SlackFake
from tests.slack_helpers import ALICE, command, slack_config

PEOPLE = f"""
people:
  - {{id: alice, name: Alice Example, slack_user_id: {ALICE[0]}, email: alice@example.com}}
  - {{id: bob, name: Bob Example}}
"""
GATED = """
id: rotate
title: Rotate the signing key
approval: {required: true, four_eyes: true}
steps:
  - id: rotate
    wait: {duration: 50ms}
    mutating: true
"""
NAMED = """
id: flush
title: Flush the queue
steps:
  - id: ask
    approval: {message: "Flush?", approvers: ["slack:U0ALICE"]}
"""


def people_config(db_url: str, slack: SlackFake) -> str:
    text = config_text(db_url, slack_config(slack, tier2_after="1h") + PEOPLE)
    # Alice's admin token and Bob's responder token name their people.
    return text.replace("name: alice}", "name: alice-laptop, person: alice}").replace(
        "name: bob}", "name: bob, person: bob}"
    )


@pytest.fixture
async def client(aiohttp_client: Any, db_url: str, slack: SlackFake) -> Any:
    config = parse_config(people_config(db_url, slack), source="test.yml", env={})
    app = create_app(config, registry=CollectorRegistry(), runbooks=runbooks(GATED, NAMED))
    return await aiohttp_client(app)


async def _slack_answer(client: Any, slack: SlackFake, text: str, user: tuple[str, str]) -> str:
    before = len(slack.responses)
    assert (await command(client, slack, text, user)).status == 200
    await eventually(lambda: len(slack.responses) > before, what=f"answer to {text!r}")
    return str(slack.responses[-1]["text"])


async def test_four_eyes_knows_a_person_through_slack_and_an_api_token(
    client: Any, slack: SlackFake
) -> None:
    resp = await client.post("/api/v1/runbooks/rotate/execute", json={}, headers=auth(ADMIN_TOKEN))
    eid = (await resp.json())["id"]
    waiting = await in_state(client, eid, "waiting_approval")
    assert waiting["actor"] == "person:alice"
    # Alice, from Slack this time: the same person, so four eyes refuses her.
    answer = await _slack_answer(client, slack, f"approve {eid}", ALICE)
    assert "four eyes: person:alice started execution" in answer
    assert (await execution(client, eid))["state"] == "waiting_approval"
    ok = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(RESPONDER_TOKEN))
    assert ok.status == 200, await ok.text()
    record = await finished(client, eid)
    assert record["state"] == "succeeded" and record["approved_by"] == "person:bob"
    audit = await (await client.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))).json()
    actors = {(e["interface"], e["action"], e["actor"]) for e in audit["entries"]}
    assert ("api", "runbook_execute", "person:alice") in actors
    assert ("slack", "approve", "person:alice") in actors
    assert ("api", "approve", "person:bob") in actors
    # An unmapped token keeps the spelling it had.
    pause = await client.post("/api/v1/automation/pause", headers=auth(VIEWER_TOKEN))
    assert pause.status == 403
    audit = await (await client.get("/api/v1/audit", headers=auth(ADMIN_TOKEN))).json()
    assert ("api", "pause", "carol") in {
        (e["interface"], e["action"], e["actor"]) for e in audit["entries"]
    }


async def test_approvers_naming_a_slack_user_let_that_person_approve_from_the_api(
    client: Any,
) -> None:
    resp = await client.post(
        "/api/v1/runbooks/flush/execute", json={}, headers=auth(RESPONDER_TOKEN)
    )
    eid = (await resp.json())["id"]
    await in_state(client, eid, "waiting_approval")
    refused = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(RESPONDER_TOKEN))
    assert refused.status == 403  # bob is not the Slack user the step names
    ok = await client.post(f"/api/v1/executions/{eid}/approve", headers=auth(ADMIN_TOKEN))
    assert ok.status == 200, await ok.text()
    record = await finished(client, eid)
    assert record["steps"][0]["decided_by"] == "person:alice"


@pytest.mark.parametrize(
    ("people", "token", "problem"),
    [
        (
            "people: [{id: alice}]",
            "person: zoe",
            'test.yml: api.tokens[0].person: unknown person "zoe"; defined: alice',
        ),
        (
            "people: [{id: alice}, {id: alice}]",
            "person: alice",
            "test.yml: people[1].id: duplicates people[0].id",
        ),
        (
            "people: [{id: a, slack_user_id: U0A}, {id: b, slack_user_id: U0A}]",
            "person: a",
            "test.yml: people[1].slack_user_id: duplicates people[0].slack_user_id",
        ),
        (
            "people: [{id: a, slack_user_id: alice}]",
            "person: a",
            "test.yml: people[0].slack_user_id: expected a Slack user id such as U0123ABCD",
        ),
        (
            "people: [{id: Alice Smith}]",
            "name: x",
            "test.yml: people[0].id: expected lower-case letters",
        ),
        (
            "people: [{id: a, email: not-an-address}]",
            "name: x",
            "test.yml: people[0].email: expected an email address",
        ),
    ],
)
def test_people_mistakes_name_the_key(people: str, token: str, problem: str) -> None:
    text = f"""
{people}
api:
  tokens:
    - {{token: "{ADMIN_TOKEN}", role: admin, {token}}}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="test.yml", env={})
    # Where in the file is checked in tests/unit/config/test_positions.py.
    unplaced = [re.sub(r"^([^:]+):\d+:\d+:", r"\1:", p) for p in caught.value.problems]
    assert any(p.startswith(problem) for p in unplaced), caught.value.problems
