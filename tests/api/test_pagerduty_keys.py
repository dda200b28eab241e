"""An incident key is data, never authority: PagerDuty's webhook finds an alert only through a
key a pagerduty channel recorded (of those configured now) or the occurrence the key names.
Another channel's reference (a Slack message's ``channel:ts``, an id a webhook receiver chose)
set as an incident's key by some other integration on the same PagerDuty service leads nowhere,
and hostile keys (huge, injection strings, wrong types) change nothing and never get a 5xx.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import load_config
from tests.api.test_escalation import eventually
from tests.api.test_pagerduty import ENDPOINT, KEY, SECRETS, alert_detail
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, auth, config_text
from tests.fakes.pagerduty import FakePagerDuty, Incident, channel_yaml
from tests.fakes.slack import SlackFake
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.payloads import alert, webhook
from tests.slack_helpers import slack_section

HOOK = auth(WEBHOOK_TOKEN)
# What a webhook receiver answered as its id for a delivery: it chooses it, so it may be anything.
HOSTILE_ID = "C0HOSTILE:1700000000.000100"
JOBS = """
jobs: {workers: 2, lease: 5s, max_attempts: 5, backoff_initial: 100ms, backoff_max: 300ms,
       poll_interval: 100ms}
notifications: {group_window: 0s}
"""


def channels(pagerduty: FakePagerDuty, ca_file: str, hook_url: str, *, pd_is: str) -> str:
    """``chat`` (Slack) and ``hook`` (a webhook) for alert ``Chatty``, ``pd`` for ``Paged*``;
    ``pd_is="webhook"`` makes ``pd`` a webhook channel to ``hook_url`` instead."""
    if pd_is == "pagerduty":
        pd = channel_yaml(pagerduty, ca_file, KEY, "300ms")
    else:
        pd = f'\n  pd: {{type: webhook, webhook: {{url: "{hook_url}", timeout: 5s}}}}'
    return f"""
channels:{pd}
  hook: {{type: webhook, webhook: {{url: "{hook_url}", timeout: 5s}}}}
  chat: {{type: slack, rate_limit: {{per_minute: 600, burst: 100}}}}
escalation_policies:
  chatty: {{tiers: [{{after: 0s, notify: [chat, hook]}}]}}
  paged: {{tiers: [{{after: 0s, notify: [pd]}}]}}
routes:
  - {{name: paged, match: 'alertname=~"Paged.*"', escalation_policy: paged}}
  - {{name: all, escalation_policy: chatty}}
pagerduty: {{webhook_secrets: ["{SECRETS[0]}"]}}
{JOBS}"""


class Running:
    """The application on a configuration file, the fakes it talks to, and a reload."""

    def __init__(
        self,
        client: Any,
        path: Path,
        db_url: str,
        slack: SlackFake,
        pagerduty: FakePagerDuty,
        hook: WebhookReceiver,
        ca_file: str,
    ) -> None:
        self.client, self.path, self.db_url = client, path, db_url
        self.slack, self.pagerduty, self.hook, self.ca_file = slack, pagerduty, hook, ca_file

    def text(self, pd_is: str) -> str:
        section = channels(self.pagerduty, self.ca_file, self.hook.url, pd_is=pd_is)
        return config_text(self.db_url, slack_section(self.slack) + section)

    async def reload(self, pd_is: str) -> None:
        self.path.write_text(self.text(pd_is))
        resp = await self.client.post("/-/reload", headers=auth(ADMIN_TOKEN))
        assert resp.status == 200, await resp.text()

    async def fire(self, name: str, channels: int) -> tuple[int, dict[str, str]]:
        """Fire ``name`` and wait until ``channels`` channels recorded their sends: its id and
        the reference each channel recorded."""
        body = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
        resp = await self.client.post("/webhook", json=body, headers=HOOK)
        assert resp.status == 200, await resp.text()
        resp = await self.client.get("/api/v1/alerts", headers=auth(ADMIN_TOKEN))
        listed = (await resp.json())["alerts"]
        [alert_id] = [a["id"] for a in listed if a["labels"]["alertname"] == name]

        async def recorded() -> dict[str, str]:
            sent = (await alert_detail(self.client, alert_id))["notifications"]
            found = {n["channel"]: n["reference"] for n in sent if n["reference"]}
            return found if len(found) >= channels else {}

        await eventually(recorded, client=self.client)
        return alert_id, await recorded()

    async def incident(
        self, event_type: str, incident_key: Any, *, agent: str = "Dana Ops", **data: Any
    ) -> tuple[int, Any]:
        """A correctly signed v3 webhook about an incident whose key is ``incident_key`` (and
        whose other ``data`` fields are as given)."""
        incident = Incident("PHOSTILE", 77, KEY, "placeholder", "Opened by another integration")
        document = json.loads(self.pagerduty.webhook_body(event_type, incident, agent))
        document["event"]["data"].update(data, incident_key=incident_key)
        body = json.dumps(document).encode()
        url = str(self.client.make_url(ENDPOINT))
        return await self.pagerduty.send_webhook(url, event_type, incident, SECRETS, body=body)

    async def state(self, alert_id: int) -> tuple[Any, ...]:
        """What acknowledging or resolving an alert would change."""
        detail = await alert_detail(self.client, alert_id)
        return (
            detail["status"],
            detail["acknowledged_at"],
            detail["acknowledged_by"],
            [e["kind"] for e in detail["events"]],
        )

    async def outcomes(self) -> str:
        text = await (await self.client.get("/metrics")).text()
        return "\n".join(
            line for line in text.splitlines() if line.startswith("firebreak_pagerduty_webhooks")
        )


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty(routing_keys=(KEY,)) as server:
        yield server


@pytest.fixture
async def hostile_hook() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
async def running(
    aiohttp_client: Any,
    db_url: str,
    tmp_path: Path,
    slack: SlackFake,
    pagerduty: FakePagerDuty,
    hostile_hook: WebhookReceiver,
) -> Running:
    ca_file = pagerduty.write_ca(tmp_path / "pagerduty-ca.pem")
    path = tmp_path / "firebreak.yml"
    found = Running(None, path, db_url, slack, pagerduty, hostile_hook, ca_file)
    path.write_text(found.text("pagerduty"))
    app = create_app(load_config(str(path)), registry=CollectorRegistry(), config_path=str(path))
    found.client = await aiohttp_client(app)
    return found


async def test_another_channels_reference_as_incident_key_acknowledges_nothing(
    running: Running,
) -> None:
    running.hook.script(Reply(200, headers={"X-Request-Id": HOSTILE_ID}))
    alert_id, references = await running.fire("Chatty", channels=2)
    assert references["hook"] == HOSTILE_ID
    slack_reference = references["chat"]
    assert slack_reference.startswith("C") and ":" in slack_reference
    before = await running.state(alert_id)

    for key in (slack_reference, HOSTILE_ID):
        for event_type in ("incident.acknowledged", "incident.resolved"):
            status, body = await running.incident(event_type, key)
            assert (status, body) == (200, {"status": "success", "outcome": "unknown_incident"})
    assert await running.state(alert_id) == before
    assert before[:3] == ("firing", None, None)
    assert 'firebreak_pagerduty_webhooks_total{outcome="unknown_incident"} 4.0' in (
        await running.outcomes()
    )


HOSTILE_KEYS = [
    "k" * 100_000,  # far past PagerDuty's 255 characters
    "firebreak/2026-11-23T08:00:00.123456789Z/" + "f" * 100_000,  # names an occurrence, huge
    "firebreak/not-a-time/ab12",
    "' OR '1'='1",
    "x'); UPDATE alerts SET status = 'resolved'; --",
    "line one\nline two\r\n",
    "%s %d %(name)s {0} ${HOME}",
    "ключ 🔥 \u202e\u200b",
    "",
]


async def test_hostile_incident_keys_change_nothing(running: Running) -> None:
    paged_id, _ = await running.fire("Paged", channels=1)
    before = await running.state(paged_id)

    for key in HOSTILE_KEYS:
        status, body = await running.incident("incident.resolved", key)
        assert (status, body) == (200, {"status": "success", "outcome": "unknown_incident"}), key
    for wrong in (5, 1.5, True, ["firebreak/x"], {"key": "firebreak/x"}, "nul \x00 inside"):
        status, body = await running.incident("incident.resolved", wrong)
        assert status == 400, (wrong, body)
        assert body["status"] == "error"
        assert "event.data.incident_key" in body["error"] and "string" in body["error"]
    # The key of the page itself, with a NUL where the incident's other fields are stored.
    [incident] = running.pagerduty.incidents
    for field, extra in (
        ("event.agent", {"agent": "Dana\x00Ops"}),
        ("event.data.html_url", {"html_url": "https://acme.pagerduty.com/\x00"}),
        ("event.data.id", {"id": "P\x00"}),
    ):
        status, body = await running.incident("incident.resolved", incident.incident_key, **extra)
        assert status == 400, (field, body)
        assert field in body["error"] and "NUL" in body["error"]
    assert await running.state(paged_id) == before
    outcomes = await running.outcomes()
    assert f'{{outcome="unknown_incident"}} {len(HOSTILE_KEYS)}.0' in outcomes
    assert 'outcome="resolved"' not in outcomes


async def test_which_channels_keys_count_follows_a_reload(running: Running) -> None:
    """A reload that turns ``pd`` into a webhook channel: what it records afterwards is not a
    PagerDuty key, while the incident pd opened before is still found by the occurrence its
    key names."""
    paged_id, paged_keys = await running.fire("Paged", channels=1)
    [incident] = running.pagerduty.incidents
    assert paged_keys == {"pd": incident.incident_key}

    await running.reload(pd_is="webhook")
    running.hook.script(
        Reply(200, headers={"X-Request-Id": HOSTILE_ID}),
        Reply(200, headers={"X-Request-Id": HOSTILE_ID}),
    )
    later_id, later_references = await running.fire("PagedLater", channels=1)
    assert later_id != paged_id
    assert later_references == {"pd": HOSTILE_ID}
    later_before = await running.state(later_id)

    status, body = await running.incident("incident.acknowledged", HOSTILE_ID)
    assert (status, body["outcome"]) == (200, "unknown_incident")
    assert await running.state(later_id) == later_before

    status, body = await running.incident("incident.acknowledged", incident.incident_key)
    assert (status, body["outcome"]) == (200, "acknowledged")
    assert (await running.state(paged_id))[:1] == ("firing",)
    assert (await alert_detail(running.client, paged_id))["acknowledged_by"] == "Dana Ops"
