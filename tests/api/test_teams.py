"""The Microsoft Teams channel against a loopback Workflows webhook that validates every card
against the Adaptive Card schema it declares: the channel on its own (statuses, escaping,
size), then through the real edge (webhook in, card out, resolved card, throttling, retries,
dead letters), on the ManualClock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.notify.base import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    Notice,
    NoticeAlert,
    NoticeKind,
)
from receiver.notify.links import NoticeLinks
from receiver.notify.teams import (
    CARD_VERSION,
    MAX_MESSAGE_BYTES,
    TeamsChannel,
    TeamsLinks,
    card,
    card_text,
    encode_message,
)
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.teams import TeamsWorkflow, card_problems
from tests.fakes.webhook_receiver import Reply
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
STARTED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def notice_alert(
    id: int = 1, *, status: str = "firing", labels: dict[str, str] | None = None, **annotations: str
) -> NoticeAlert:
    return NoticeAlert(
        id=id,
        fingerprint=f"fp{id}",
        status=status,
        labels={"alertname": "HighErrorRate", "severity": "critical", "service": "checkout"}
        | (labels or {}),
        annotations={"summary": "5xx above 5%", "runbook_url": "https://runbooks.example/5xx"}
        | annotations,
        starts_at=STARTED,
        ends_at=None if status == "firing" else STARTED + timedelta(minutes=5),
        generator_url="http://prometheus.example/graph?g0.expr=up",
    )


def notice(*alerts: NoticeAlert, kind: NoticeKind = NoticeKind.FIRING) -> Notice:
    return Notice(
        kind=kind,
        idempotency_key="notify:7:0",
        alerts=alerts or (notice_alert(),),
        route="checkout",
        escalation_policy="oncall",
        tier=0 if kind is NoticeKind.FIRING else None,
    )


def texts(content: Any) -> list[str]:
    """Every text a person reads on a card (TextBlocks, facts), in order."""
    found: list[str] = []
    if isinstance(content, dict):
        for key in ("text", "title", "value"):
            if isinstance(content.get(key), str) and content.get("type") != "Action.OpenUrl":
                found.append(content[key])
        for value in content.values():
            found.extend(texts(value))
    elif isinstance(content, list):
        for value in content:
            found.extend(texts(value))
    return found


def buttons(content: Any) -> dict[str, str]:
    """Title -> URL of every Action.OpenUrl on a card."""
    found: dict[str, str] = {}
    if isinstance(content, dict):
        if content.get("type") == "Action.OpenUrl":
            found[content["title"]] = content["url"]
        for value in content.values():
            found.update(buttons(value))
    elif isinstance(content, list):
        for value in content:
            found.update(buttons(value))
    return found


@pytest.fixture
async def teams() -> AsyncIterator[TeamsWorkflow]:
    async with TeamsWorkflow() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def channel(url: str, session: aiohttp.ClientSession, **links: Any) -> TeamsChannel:
    return TeamsChannel("teams", url, session=session, timeout=2.0, links=TeamsLinks(**links))


# --- the channel on its own -------------------------------------------------------------------


async def test_a_firing_card_is_a_valid_adaptive_card_with_colour_summary_labels_and_links(
    teams: TeamsWorkflow, session: aiohttp.ClientSession
) -> None:
    links = {
        "grafana_url": "https://grafana.example/d/abc",
        "silence_url": "https://alertmanager.example",
        "notice": NoticeLinks(external_url="https://firebreak.example"),
    }
    delivery = await channel(teams.url, session, **links).send(notice(), "")
    assert delivery.reference is None  # a Workflows trigger answers 202 without an id
    assert teams.rejected == []
    [request] = teams.requests
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["X-Firebreak-Idempotency-Key"] == "notify:7:0"
    body = json.loads(request.body)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    [content] = teams.cards
    assert content["version"] == CARD_VERSION == "1.4"
    heading = content["body"][0]
    assert heading["style"] == "attention"  # critical: red
    assert heading["items"][0]["color"] == "Attention"
    shown = texts(content)
    assert "\\[FIRING:1\\] HighErrorRate checkout \\(critical\\)" in shown
    assert "5xx above 5%" in shown
    assert {"title": "service", "value": "checkout"} in content["body"][2]["items"][2]["facts"]
    assert buttons(content) == {
        "Runbook": "https://runbooks.example/5xx",
        "Grafana": "https://grafana.example/d/abc?var-alertname=HighErrorRate",
        "Silence": (
            "https://alertmanager.example/#/silences/new?filter="
            "%7Balertname%3D%22HighErrorRate%22%2Cservice%3D%22checkout%22%2C"
            "severity%3D%22critical%22%7D"
        ),
        "Console": "https://firebreak.example/console/alerts/1",
        "Source": "http://prometheus.example/graph?g0.expr=up",
    }


@pytest.mark.parametrize(
    ("severity", "style", "color"),
    [
        ("critical", "attention", "Attention"),
        ("warning", "warning", "Warning"),
        ("info", "emphasis", "Accent"),
    ],
)
def test_the_colour_follows_the_worst_severity(severity: str, style: str, color: str) -> None:
    content = card(notice(notice_alert(labels={"severity": severity})))
    assert content["body"][0]["style"] == style
    assert content["body"][0]["items"][0]["color"] == color


async def test_a_resolved_card_is_green_and_says_resolved(
    teams: TeamsWorkflow, session: aiohttp.ClientSession
) -> None:
    resolved = notice(notice_alert(status="resolved"), kind=NoticeKind.RESOLVED)
    await channel(teams.url, session, silence_url="https://am.example").send(resolved, "")
    [content] = teams.cards
    assert content["body"][0]["style"] == "good"
    assert content["body"][0]["items"][0]["text"].startswith("\\[RESOLVED\\]")
    assert "Silence" not in buttons(content)  # nothing left to silence
    assert {"title": "Ended", "value": "2026\\-11\\-23T08:05:00Z"} in content["body"][2]["items"][
        2
    ]["facts"]


HOSTILE = [
    "[click me](https://evil.example/phish)",
    "**URGENT** _wire money_",
    "<at>everyone</at> <script>alert(1)</script>",
    "# heading\n- list\n1. item",
    "${{secrets.token}} {{ 7*7 }}",
    "line\u2028break\x00nul\x1b[31m",
]


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_labels_and_annotations_show_as_text_and_never_become_links(
    teams: TeamsWorkflow, session: aiohttp.ClientSession, value: str
) -> None:
    hostile = notice_alert(
        labels={"alertname": value, "team": value},
        summary=value,
        runbook_url="javascript:alert(1)",
        dashboard_url=value,
    )
    await channel(teams.url, session).send(notice(hostile), "")
    assert teams.rejected == []  # still a valid card
    [content] = teams.cards
    # Only the source link is a real http(s) URL; the annotations' are refused.
    assert buttons(content) == {"Source": "http://prometheus.example/graph?g0.expr=up"}
    for text in texts(content):
        assert "](" not in text.replace("\\](", "").replace("\\]\\(", "")
        assert "**" not in text and "\x00" not in text and "\x1b" not in text
        assert "<script>" not in text and "<at>" not in text


def test_card_text_escapes_every_markdown_character_so_it_reads_as_written() -> None:
    assert card_text("[a](b) *c* _d_ `e` #f <g> ~h~") == (
        "\\[a\\]\\(b\\) \\*c\\* \\_d\\_ \\`e\\` \\#f \\<g\\> \\~h\\~"
    )
    assert card_text("x" * 1000).endswith("x\u2026")
    assert len(card_text("x" * 1000)) == 300


async def test_a_storm_is_cut_to_fit_teams_message_size_and_the_rest_is_counted(
    teams: TeamsWorkflow, session: aiohttp.ClientSession
) -> None:
    storm = tuple(
        notice_alert(i, labels={f"label{j}": "v" * 500 for j in range(20)}, description="d" * 5000)
        for i in range(1, 201)
    )
    body = encode_message(notice(*storm))
    assert len(body) <= MAX_MESSAGE_BYTES
    await channel(teams.url, session).send(notice(*storm), "")
    assert teams.rejected == []
    [content] = teams.cards
    more = [t for t in texts(content) if "more alerts" in t]
    assert more and more[0].startswith("\\.\\.\\. and ")


def test_a_digest_card_is_valid_and_counts_what_was_held_back() -> None:
    digest = Notice(kind=NoticeKind.DIGEST, idempotency_key="digest:1", alerts=(), suppressed=12)
    body = encode_message(digest)
    assert card_problems(body) == []
    content = json.loads(body)["attachments"][0]["content"]
    assert content["body"][0]["style"] == "emphasis"
    assert "\\[DIGEST\\] 12 notifications held back" in texts(content)


async def test_the_fake_refuses_what_teams_refuses() -> None:
    # The schema is really applied: an unknown element, a bad colour, a wrong version.
    good = json.loads(encode_message(notice()))
    assert card_problems(json.dumps(good).encode()) == []
    bad = json.loads(encode_message(notice()))
    bad["attachments"][0]["content"]["body"][0]["items"][0]["color"] = "Magenta"
    assert card_problems(json.dumps(bad).encode())
    bad = json.loads(encode_message(notice()))
    bad["attachments"][0]["content"]["body"].append({"type": "Marquee", "text": "x"})
    assert card_problems(json.dumps(bad).encode())
    bad = json.loads(encode_message(notice()))
    bad["attachments"][0]["content"]["version"] = "9.9"
    assert card_problems(json.dumps(bad).encode()) == ["no schema for Adaptive Card version '9.9'"]


async def test_statuses_map_to_throttled_retry_and_rejected_without_leaking_the_url(
    teams: TeamsWorkflow, session: aiohttp.ClientSession
) -> None:
    teams.script(Reply.throttled("17"), Reply(502, body=b"bad gateway"), Reply(404, body=b"gone"))
    sender = channel(teams.url, session)
    with pytest.raises(ChannelThrottled) as throttled:
        await sender.send(notice(), "")
    assert throttled.value.retry_after == 17
    with pytest.raises(ChannelError) as failed:
        await sender.send(notice(), "")
    assert not isinstance(failed.value, ChannelRejected)
    with pytest.raises(ChannelRejected) as rejected:
        await sender.send(notice(), "")
    for error in (throttled.value, failed.value, rejected.value):
        assert "sig" not in str(error) and "s3cr3t" not in str(error)
        assert str(error).startswith("teams teams (http://127.0.0.1:")
    teams.script(Reply(302, headers={"Location": "https://elsewhere.example/"}))
    with pytest.raises(ChannelRejected, match="redirects are not followed"):
        await sender.send(notice(), "")


def test_the_channel_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(ValueError, match="absolute http"):
        TeamsChannel("teams", "file:///etc/passwd")


# --- through the real edge ---------------------------------------------------------------------


def teams_config(url: str, *, tier2_after: str = "30s") -> str:
    return f"""
channels:
  teams:
    type: teams
    teams: {{url: "{url}", timeout: 5s, silence_url: "https://am.example"}}
    rate_limit: {{per_minute: 600, burst: 100}}
    breaker: {{failure_threshold: 5, open_cooldown: 60s, half_open_probe_count: 1}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [{{channel: teams, target: ""}}]}}
      - {{after: {tier2_after}, notify: [{{channel: teams, target: ""}}]}}
routes:
  - {{name: all, escalation_policy: oncall}}
notifications: {{group_window: 0s, external_url: "https://firebreak.example"}}
jobs: {{workers: 2, lease: 2s, max_attempts: 3, backoff_initial: 100ms, backoff_max: 400ms,
        poll_interval: 200ms}}
"""


@pytest.fixture
def start(
    aiohttp_client: Any, db_url: str, make_config: Any, manual_clock: ManualClock
) -> Callable[..., Any]:
    async def run(teams: TeamsWorkflow, **settings: Any) -> Any:
        config = make_config(db_url, teams_config(teams.url, **settings))
        app = create_app(
            config,
            clock=manual_clock,
            monotonic=manual_clock.monotonic,
            registry=CollectorRegistry(),
        )
        client = await aiohttp_client(app)
        manual_clock.watch(app)
        return client

    return run


async def test_an_alert_is_carded_acknowledged_and_resolved_end_to_end(
    teams: TeamsWorkflow, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(teams, tier2_after="60s")
    await client.post("/webhook", json=webhook(alert("DiskFull")), headers=HOOK)
    await manual_clock.settle()
    [firing] = teams.cards
    assert teams.rejected == []
    assert firing["body"][0]["style"] == "attention"
    links = buttons(firing)
    alert_id = int(links["Console"].rsplit("/", 1)[1])
    assert links["Console"] == f"https://firebreak.example/console/alerts/{alert_id}"
    ack = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(RESPONDER_TOKEN))
    assert ack.status == 200
    await manual_clock.advance(timedelta(minutes=5))  # past tier 2: acknowledged, not sent
    assert len(teams.cards) == 1
    await client.post("/webhook", json=webhook(alert("DiskFull", status="resolved")), headers=HOOK)
    await manual_clock.settle()
    [_, resolved] = teams.cards
    assert resolved["body"][0]["style"] == "good"
    assert "\\[RESOLVED\\] DiskFull checkout \\(critical\\)" in texts(resolved)
    assert teams.rejected == []


async def test_a_throttled_card_waits_for_retry_after_then_goes_out_once(
    teams: TeamsWorkflow, start: Any, manual_clock: ManualClock
) -> None:
    teams.script(Reply.throttled("120"))
    client = await start(teams, tier2_after="1h")
    await client.post("/webhook", json=webhook(alert("A")), headers=HOOK)
    await manual_clock.settle()
    assert len(teams.requests) == 1
    await manual_clock.advance(timedelta(seconds=100))  # Retry-After not yet over
    assert len(teams.requests) == 1
    await manual_clock.advance(timedelta(seconds=30))
    assert len(teams.requests) == 2
    keys = {r.headers["X-Firebreak-Idempotency-Key"] for r in teams.requests}
    assert len(keys) == 1  # the same notification, retried
    await manual_clock.advance(timedelta(minutes=5))
    assert len(teams.requests) == 2


async def test_a_5xx_is_retried_and_a_4xx_is_dead_lettered(
    teams: TeamsWorkflow, start: Any, manual_clock: ManualClock
) -> None:
    teams.script(Reply(503), Reply(500))
    client = await start(teams, tier2_after="1h")
    await client.post("/webhook", json=webhook(alert("A"), group_key="g1"), headers=HOOK)
    await manual_clock.advance(timedelta(seconds=10))
    assert len(teams.requests) == 3  # two failures, then delivered
    teams.script(Reply(400, body=b'{"error":"card rejected"}'))
    await client.post("/webhook", json=webhook(alert("B"), group_key="g2"), headers=HOOK)
    await manual_clock.advance(timedelta(seconds=10))
    assert len(teams.requests) == 4  # refused once, never again
    resp = await client.get("/api/v1/jobs?state=dead", headers=auth(VIEWER_TOKEN))
    [job] = (await resp.json())["jobs"]
    assert job["kind"] == "notify" and "HTTP 400" in job["last_error"]
    assert "s3cr3t" not in job["last_error"]
    retried = await client.post(f"/api/v1/jobs/{job['id']}/retry", headers=auth(ADMIN_TOKEN))
    assert retried.status == 200
    await manual_clock.advance(timedelta(seconds=10))
    assert len(teams.requests) == 5


async def test_hostile_labels_through_the_edge_give_a_valid_card_of_plain_text(
    teams: TeamsWorkflow, start: Any, manual_clock: ManualClock
) -> None:
    client = await start(teams, tier2_after="1h")
    labels = {"team": "[pay here](https://evil.example)", "note": "**" + "x" * 20000}
    annotations = {"runbook_url": "javascript:alert(1)", "summary": "<at>all</at> ${x}"}
    await client.post(
        "/webhook",
        json=webhook(alert("A", labels=labels, annotations=annotations)),
        headers=HOOK,
    )
    await manual_clock.settle()
    assert teams.rejected == []
    [content] = teams.cards
    assert "Runbook" not in buttons(content)
    shown = texts(content)
    assert "\\[pay here\\]\\(https://evil\\.example\\)" in shown
    assert "\\<at\\>all\\</at\\> \\$\\{x\\}" in shown
