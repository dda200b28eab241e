"""``/firebreak silence`` and the Silence 1h button create silences on a real Alertmanager
through its v2 API, with ``createdBy`` set to the Slack user."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from receiver.alertmanager import parse_webhook
from receiver.alertmanager_api import AlertmanagerClient
from receiver.app import create_app
from receiver.chatops import ChatOps
from receiver.config import AlertmanagerConfig, load_config
from receiver.matchers import Matcher, MatchOp, format_matchers
from receiver.model import Actor, AlertQuery, EventKind
from receiver.notify.slack.blocks import ACTION_SILENCE
from receiver.store import Store, create_engine_for, migrate
from receiver.store.ingest import ReceivedWebhook
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth, config_text, eventually
from tests.e2e.conftest import http
from tests.fakes.slack import CHANNEL, SlackFake
from tests.payloads import alert, webhook
from tests.slack_helpers import (
    ALICE,
    VIEWER,
    buttons,
    command,
    press,
    slack_config,
    slash_answer,
)


def silences(url: str) -> list[dict[str, Any]]:
    status, body = http("GET", url + "/api/v2/silences")
    assert status == 200
    found: list[dict[str, Any]] = json.loads(body)
    return [s for s in found if s["status"]["state"] == "active"]


def _hours(silence: dict[str, Any]) -> float:
    start = datetime.fromisoformat(silence["startsAt"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    return (end - start).total_seconds() / 3600


async def test_silences_from_slack(
    aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake, alertmanager_url: str
) -> None:
    text = slack_config(slack, tier2_after="1h") + (
        f'alertmanager: {{url: "{alertmanager_url}", reconcile_interval: 0s}}\n'
    )
    config = make_config(sqlite_url, text)
    client = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    firing = alert("DiskFull", labels={"service": "db"})
    await client.post("/webhook", json=webhook(firing), headers=auth(WEBHOOK_TOKEN))
    [parent] = await eventually(lambda: slack.top_messages(CHANNEL), what="posted")
    assert buttons(parent.blocks) == ["Acknowledge", "Resolve", "Silence 1h"]

    # The slash command: matchers, a duration and a comment.
    resp = await command(client, slack, "silence alertname=DiskFull service=db 2h disk swap", ALICE)
    assert resp.status == 200
    await eventually(lambda: slack.responses, what="answer")
    answer = slack.responses[-1]
    assert answer["response_type"] == "in_channel"
    assert "created silence" in answer["text"] and "(1 firing alert(s) covered)" in answer["text"]
    [made] = silences(alertmanager_url)
    assert made["createdBy"] == "alice (U0ALICE)"
    assert made["comment"] == "disk swap"
    assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in made["matchers"]} == {
        ("alertname", "DiskFull", False, True),
        ("service", "db", False, True),
    }
    assert _hours(made) == pytest.approx(2.0, abs=0.01)
    assert made["id"] in answer["text"]

    resp = await client.get("/api/v1/alerts?status=firing", headers=auth(VIEWER_TOKEN))
    alert_id = (await resp.json())["alerts"][0]["id"]
    detail = await (
        await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))
    ).json()
    [event] = [e for e in detail["events"] if e["kind"] == "silenced"]
    assert event["actor"] == "slack:alice (U0ALICE)" and made["id"] in event["note"]

    # The button silences exactly this alert's labels for an hour.
    resp = await press(client, slack, parent, ACTION_SILENCE, ALICE)
    assert resp.status == 200
    [confirm] = await eventually(lambda: slack.called("chat.postEphemeral"), what="confirmation")
    assert "created silence" in confirm.args["text"]
    button_made = [s for s in silences(alertmanager_url) if s["id"] != made["id"]]
    assert len(button_made) == 1
    assert {m["name"] for m in button_made[0]["matchers"]} == set(firing["labels"])
    assert _hours(button_made[0]) == pytest.approx(1.0, abs=0.01)

    # A viewer may not; Alertmanager's own refusal is passed on.
    before = len(slack.responses)
    await command(client, slack, "silence alertname=DiskFull 1h", VIEWER)
    await eventually(lambda: len(slack.responses) > before, what="refusal")
    assert "needs the responder role" in slack.responses[-1]["text"]
    await command(client, slack, 'silence team=~".*" 1h', ALICE)
    await eventually(lambda: len(slack.responses) > before + 1, what="Alertmanager's refusal")
    assert "Could not silence: POST /silences: HTTP 400" in slack.responses[-1]["text"]
    assert len(silences(alertmanager_url)) == 2


async def test_a_silence_goes_to_the_alertmanager_of_the_configuration_in_force(
    aiohttp_client: Any, sqlite_url: str, tmp_path: Path, slack: SlackFake, alertmanager_url: str
) -> None:
    path = tmp_path / "firebreak.yml"
    path.write_text(config_text(sqlite_url, slack_config(slack, tier2_after="1h")))
    app = create_app(load_config(path), registry=CollectorRegistry(), config_path=str(path))
    client = await aiohttp_client(app)
    before = len(silences(alertmanager_url))
    answer = await slash_answer(client, slack, "silence alertname=DiskFull 1h", ALICE)
    assert answer["text"].startswith("No Alertmanager is configured")

    section = f'alertmanager: {{url: "{alertmanager_url}", reconcile_interval: 0s}}\n'
    path.write_text(config_text(sqlite_url, slack_config(slack, tier2_after="1h") + section))
    resp = await client.post("/-/reload", headers=auth(ADMIN_TOKEN))
    assert resp.status == 200, await resp.text()
    answer = await slash_answer(client, slack, "silence alertname=DiskFull 1h", ALICE)
    assert "created silence" in answer["text"], answer["text"]
    assert len(silences(alertmanager_url)) == before + 1


async def test_chatops_silence_notes_the_firing_alerts_it_covers(
    sqlite_url: str, make_config: Any, alertmanager_url: str
) -> None:
    """The service under the command and the button: what reaches Alertmanager is the matchers
    as given (a hostile value stays one exact value), and only the firing alerts they cover, at most
    100 of them, get the silence in their history."""
    hostile = '<!channel> `x` & "y" \\ .* ' + "é" * 40
    store = Store(create_engine_for(make_config(sqlite_url).database))
    await migrate(store.engine)
    now = datetime.now(UTC)
    bulk = [alert("Bulk", labels={"instance": f"i-{n}"}) for n in range(101)]
    covered = alert("DiskFull", labels={"team": hostile})
    others = [alert("DiskFull", labels={"team": "db"}), alert("Other", labels={"team": hostile})]
    received = ReceivedWebhook(parse_webhook(webhook(covered, *others, *bulk)), "r1", now)
    await store.ingest([received], now)
    fired = (await store.list_alerts(AlertQuery(limit=1000))).alerts
    ids = {(a.labels["alertname"], a.labels.get("team")): a.id for a in fired}
    bulk_ids = [a.id for a in fired if a.labels["alertname"] == "Bulk"]
    assert len(bulk_ids) == 101
    actor = Actor("alice (U0ALICE)", "slack")
    try:
        async with aiohttp.ClientSession() as session:
            manager = AlertmanagerClient(AlertmanagerConfig(url=alertmanager_url), session)
            chat = ChatOps(store, lambda: datetime.now(UTC), lambda: manager)
            exact = (
                Matcher("alertname", MatchOp.EQ, "DiskFull"),
                Matcher("team", MatchOp.EQ, hostile),
            )
            one = await chat.silence(exact, timedelta(hours=1), actor, "alice", "disk")
            many = await chat.silence(
                (Matcher("alertname", MatchOp.EQ, "Bulk"),), timedelta(hours=2), actor, "alice", ""
            )

        assert one is not None and one.covered == 1
        assert many is not None and many.covered == 100
        made = {s["id"]: s for s in silences(alertmanager_url)}
        assert made[one.silence_id]["createdBy"] == "alice"
        assert [
            (m["name"], m["value"], m["isRegex"]) for m in made[one.silence_id]["matchers"]
        ] == [
            ("alertname", "DiskFull", False),
            ("team", hostile, False),
        ]
        assert _hours(made[many.silence_id]) == pytest.approx(2.0, abs=0.01)

        async def silenced(alert_id: int) -> list[str | None]:
            events = await store.alert_events(alert_id)
            return [e.note for e in events if e.kind is EventKind.SILENCED]

        note = f"silence {one.silence_id} for 1h: {format_matchers(exact)}"
        assert await silenced(ids[("DiskFull", hostile)]) == [note]
        assert await silenced(ids[("DiskFull", "db")]) == []
        assert await silenced(ids[("Other", hostile)]) == []
        noted = [i for i in bulk_ids if await silenced(i)]
        assert len(noted) == 100
    finally:
        await store.close()
