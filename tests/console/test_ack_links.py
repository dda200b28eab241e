"""One-click acknowledge from a Teams card or an e-mail: a signed, expiring, person-bound link
opens a confirmation page; only its POST (with the page's CSRF token) acknowledges, audited
from interface ``link``. Scanners that GET or HEAD, tampered or expired links, other alerts'
ids, forged posts and replays after a resolve change nothing."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.acklinks import LinkSigner
from receiver.app import create_app
from receiver.notify.base import Notice, NoticeAlert, NoticeKind
from receiver.notify.email import EmailChannel
from receiver.notify.links import AckLinker, NoticeLinks
from receiver.typedefs import AUDIT
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.teams import TeamsWorkflow
from tests.payloads import alert, webhook

SECRET = "ack-links-secret-0123456789abcdef0123"
HOOK = auth(WEBHOOK_TOKEN)


def ack_config(url: str) -> str:
    return f"""
people:
  - {{id: alice, name: Alice Archer}}
channels:
  teams:
    type: teams
    teams: {{url: "{url}", timeout: 5s}}
escalation_policies:
  oncall:
    tiers:
      - {{after: 0s, notify: [teams]}}
      - {{after: 10m, notify: [teams]}}
routes: [{{name: all, escalation_policy: oncall}}]
notifications:
  group_window: 0s
  external_url: "https://firebreak.example"
  acknowledge_links: {{secret: "{SECRET}", ttl: 1h}}
jobs: {{workers: 2, lease: 2s, backoff_initial: 100ms, backoff_max: 400ms, poll_interval: 200ms}}
"""


@pytest.fixture
async def teams() -> AsyncIterator[TeamsWorkflow]:
    async with TeamsWorkflow() as fake:
        yield fake


@pytest.fixture
async def client(
    teams: TeamsWorkflow,
    aiohttp_client: Any,
    db_url: str,
    make_config: Any,
    manual_clock: ManualClock,
) -> Any:
    config = make_config(db_url, ack_config(teams.url))
    app = create_app(
        config, clock=manual_clock, monotonic=manual_clock.monotonic, registry=CollectorRegistry()
    )
    test_client = await aiohttp_client(app)
    manual_clock.watch(app)
    return test_client


def path_of(url: str) -> str:
    assert url.startswith("https://firebreak.example/ack/")
    return url.removeprefix("https://firebreak.example")


async def fire(client: Any, teams: TeamsWorkflow, clock: ManualClock, name: str = "A") -> str:
    """Fire an alert; the path of the acknowledge link its card carries."""
    await client.post("/webhook", json=webhook(alert(name), group_key=name), headers=HOOK)
    await clock.settle()
    buttons = {
        a["title"]: a["url"]
        for item in teams.cards[-1]["body"]
        for block in item.get("items", [])
        if block.get("type") == "ActionSet"
        for a in block["actions"]
    }
    return path_of(buttons["Acknowledge"])


async def acknowledged_by(client: Any, alert_id: int) -> str | None:
    body = await (await client.get(f"/api/v1/alerts/{alert_id}", headers=auth(VIEWER_TOKEN))).json()
    found = body.get("alert", body)
    value = found.get("acknowledged_by")
    return None if value is None else str(value)


async def confirm(client: Any, path: str, **headers: str) -> Any:
    """Open the page like a browser, then press its button."""
    page = await client.get(path)
    assert page.status == 200
    text = await page.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', text)
    assert csrf is not None
    return await client.post(path, data={"csrf": csrf[1]}, headers=headers)


def alert_id_of(path: str) -> int:
    payload = path.split("/")[-1].split(".")[1]
    text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    return int(text.split(":")[0])


async def test_a_teams_card_link_acknowledges_only_after_the_confirmation_post(
    client: Any, teams: TeamsWorkflow, manual_clock: ManualClock
) -> None:
    path = await fire(client, teams, manual_clock)
    alert_id = alert_id_of(path)
    # Link scanners and previewers: any number of GETs and HEADs acknowledge nothing.
    for _ in range(3):
        page = await client.get(path)
        assert page.status == 200
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert (await client.head(path)).status == 200
    assert await acknowledged_by(client, alert_id) is None
    text = await (await client.get(path)).text()
    assert "Acknowledge this alert as <strong>channel:teams</strong>" in text
    answer = await confirm(client, path)
    assert answer.status == 200
    assert "Acknowledged" in await answer.text()
    assert await acknowledged_by(client, alert_id) == "channel:teams"
    await manual_clock.advance(timedelta(minutes=15))  # tier 2 would have gone out
    assert len(teams.cards) == 1
    [row] = [e for e in await client.app[AUDIT].entries() if e.interface == "link"]
    assert (row.actor, row.action, row.target, row.outcome) == (
        "channel:teams",
        "acknowledge",
        str(alert_id),
        "ok",
    )


async def test_a_replay_after_resolve_or_acknowledge_changes_nothing(
    client: Any, teams: TeamsWorkflow, manual_clock: ManualClock
) -> None:
    path = await fire(client, teams, manual_clock)
    alert_id = alert_id_of(path)
    page = await client.get(path)
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf is not None
    assert (await client.post(path, data={"csrf": csrf[1]})).status == 200
    again = await client.post(path, data={"csrf": csrf[1]})
    assert again.status == 200 and "Already acknowledged" in await again.text()
    await client.post(
        "/webhook", json=webhook(alert("A", status="resolved"), group_key="A"), headers=HOOK
    )
    await manual_clock.settle()
    assert teams.cards[-1]["body"][0]["style"] == "good"  # the team sees it resolved
    assert teams.rejected == []
    replay = await client.post(path, data={"csrf": csrf[1]})
    assert replay.status == 409
    assert "already resolved; nothing was changed" in await replay.text()
    assert (await client.get(path)).status == 409
    rows = [e for e in await client.app[AUDIT].entries() if e.interface == "link"]
    assert [r.outcome for r in rows] == ["rejected", "rejected", "ok"]  # newest first
    assert rows[0].detail == {"reason": "already resolved"}
    assert await acknowledged_by(client, alert_id) == "channel:teams"


async def test_tampered_foreign_and_expired_links_are_refused(
    client: Any, teams: TeamsWorkflow, manual_clock: ManualClock
) -> None:
    first = await fire(client, teams, manual_clock, "A")
    second = await fire(client, teams, manual_clock, "B")
    version, payload, signature = first.split("/")[-1].split(".")
    other_payload = second.split("/")[-1].split(".")[1]
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (
        f"/ack/{version}.{payload}.{flipped}",  # tampered signature
        f"/ack/{version}.{other_payload}.{signature}",  # the other alert's id, this signature
        f"/ack/v2.{payload}.{signature}",
        f"/ack/{version}.{payload}",
        "/ack/" + "x" * 2000,
        "/ack/%00%0d%0a<script>",
    ):
        page = await client.get(bad)
        assert page.status == 400, bad
        assert "not valid" in await page.text()
        assert "<script>" not in await page.text()
        forged = await client.post(bad, data={"csrf": "x"}, cookies={"firebreak_ack_csrf": "x"})
        assert forged.status in (400, 403)
    for path in (first, second):
        assert await acknowledged_by(client, alert_id_of(path)) is None
    await manual_clock.advance(timedelta(hours=1, seconds=1))  # past the link's ttl
    expired = await client.get(first)
    assert expired.status == 410 and "expired" in await expired.text()
    assert await acknowledged_by(client, alert_id_of(first)) is None


async def test_a_post_without_the_pages_token_or_from_another_site_is_refused(
    client: Any, teams: TeamsWorkflow, manual_clock: ManualClock
) -> None:
    path = await fire(client, teams, manual_clock)
    assert (await client.post(path, data={})).status == 403  # no cookie, no field
    assert (await client.post(path, data={"csrf": "guess"})).status == 403
    cross = await confirm(client, path, Origin="https://evil.example")
    assert cross.status == 403
    site = await confirm(client, path, **{"Sec-Fetch-Site": "cross-site"})
    assert site.status == 403
    assert await acknowledged_by(client, alert_id_of(path)) is None
    refused = [e for e in await client.app[AUDIT].entries() if e.interface == "link"]
    assert {r.outcome for r in refused} == {"refused"}


async def test_a_link_bound_to_a_person_acknowledges_as_that_person_only_while_they_exist(
    client: Any, teams: TeamsWorkflow, manual_clock: ManualClock
) -> None:
    channel_path = await fire(client, teams, manual_clock)
    alert_id = alert_id_of(channel_path)
    signer = LinkSigner(SECRET)
    expires = manual_clock() + timedelta(hours=1)
    gone = f"/ack/{signer.token(alert_id, 'person:mallory', expires)}"
    assert (await client.get(gone)).status == 403
    alice = f"/ack/{signer.token(alert_id, 'person:alice', expires)}"
    assert "as <strong>alice</strong>" in await (await client.get(alice)).text()
    assert (await confirm(client, alice)).status == 200
    assert await acknowledged_by(client, alert_id) == "alice"


def test_an_email_carries_the_acknowledge_links_only_when_configured() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    signer = LinkSigner(SECRET)
    linker = AckLinker(signer, "https://fb.example", "mail", timedelta(hours=1), lambda: now)
    first = NoticeAlert(1, "fp", "firing", {"alertname": "<b>A</b>"}, {}, now, None, "")
    notice = Notice(NoticeKind.FIRING, "notify:1:0", (first,), person="alice")
    plain = EmailChannel("mail", host="127.0.0.1", port=25, starttls=False, sender="a@b.example")
    linked = EmailChannel(
        "mail",
        host="127.0.0.1",
        port=25,
        starttls=False,
        sender="a@b.example",
        links=NoticeLinks("https://fb.example", linker),
    )
    assert "Acknowledge" not in plain.bodies(notice)[0]
    text, html = linked.bodies(notice)
    [url] = re.findall(r"https://fb\.example/ack/\S+", text)
    claim = signer.verify(url.rsplit("/", 1)[1], now)
    assert (claim.alert_id, claim.person) == (1, "alice")  # bound to the person paged
    assert "Acknowledge &lt;b&gt;A&lt;/b&gt; (id 1)" in html
    resolved = Notice(NoticeKind.RESOLVED, "resolve:1", (first,))
    assert "/ack/" not in linked.bodies(resolved)[0]  # nothing to acknowledge
