"""Tiers that page whoever a schedule has on call, and teams: resolved when the tier fires
(overrides included), through a restart mid-shift; a schedule with nobody on call falls
through to the next tier at once and raises Firebreak's own FirebreakOnCallGap alert, which
resolves once somebody is on call again. Slack fake, real SMTP on loopback, manual clock;
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from receiver.typedefs import BUILT
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.fakes.slack import CHANNEL
from tests.oncall.paging_setup import ALICE, BOB, Outside, detail, mail_to
from tests.payloads import alert, webhook
from tests.slack_helpers import block_text

HOOK = auth(WEBHOOK_TOKEN)
# A Monday, two minutes before the daily 09:00 UTC hand-off of the rotations below.
MONDAY = datetime(2026, 12, 7, 8, 58, tzinfo=UTC)

# Daily from Tuesday 1 December 09:00: primary alice, bob, alice…; secondary the other way
# round. On Monday 7 December before 09:00 (Sunday's shift, the sixth) primary is bob, and
# from 09:00 alice. "later" has nobody on call until June.
SCHEDULES = """
teams:
  - {id: core, members: [alice, bob]}
schedules:
  - id: primary
    layers: [{members: [alice, bob], shift: daily, handoff: "09:00", start: "2026-12-01"}]
  - id: secondary
    layers: [{members: [bob, alice], shift: daily, handoff: "09:00", start: "2026-12-01"}]
  - id: later
    layers: [{members: [alice], shift: weekly, start: "2027-06-01"}]
"""


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(MONDAY)


async def _fire(client: Any, manual_clock: ManualClock, name: str = "DiskFull") -> int:
    resp = await client.post("/webhook", json=webhook(alert(name)), headers=HOOK)
    assert resp.status == 200
    await manual_clock.settle()
    return await _alert_id(client, name)


async def _alert_id(client: Any, name: str) -> int:
    resp = await client.get("/api/v1/alerts?limit=100", headers=auth(VIEWER_TOKEN))
    [found] = [a for a in (await resp.json())["alerts"] if a["labels"]["alertname"] == name]
    return int(found["id"])


def _paged(found: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(p["person"], p["tier"], p["via"]) for p in found["pages"]]


async def test_schedule_tiers_page_who_is_on_call_when_each_fires(
    outside: Outside, manual_clock: ManualClock
) -> None:
    tiers = """\
      - {after: 0s, notify: [{schedule: primary}]}
      - {after: 5m, notify: [{schedule: secondary}]}"""
    client = await outside.run(tiers, SCHEDULES)
    alert_id = await _fire(client, manual_clock)
    # 08:58: Sunday's shift, bob is primary.
    assert len(outside.slack.direct_messages(BOB)) == 1
    assert outside.slack.direct_messages(ALICE) == []
    await manual_clock.advance(timedelta(minutes=5))
    # 09:03: Monday's shift, secondary is bob again (alice is primary now, not paged).
    assert len(outside.slack.direct_messages(BOB)) == 2
    assert len(mail_to(outside.smtp, "bob@example.com")) == 2
    assert outside.slack.direct_messages(ALICE) == []
    assert _paged(await detail(client, alert_id)) == [
        ("bob", 0, "schedule:primary"),
        ("bob", 1, "schedule:secondary"),
    ]


async def test_restart_mid_shift_pages_who_is_on_call_when_the_tier_fires(
    outside: Outside, manual_clock: ManualClock
) -> None:
    """Tier 1 pages bob before the hand-off; the process stops; tier 2, due after the
    hand-off, names the same schedule and pages alice, the new primary, once."""
    tiers = """\
      - {after: 0s, notify: [{schedule: primary}]}
      - {after: 5m, notify: [{schedule: primary}]}"""
    first = await outside.run(tiers, SCHEDULES)
    alert_id = await _fire(first, manual_clock)
    assert len(outside.slack.direct_messages(BOB)) == 1
    manual_clock.forget(first.app)
    await first.close()

    second = await outside.run(tiers, SCHEDULES)
    await manual_clock.advance(timedelta(minutes=5))
    assert len(outside.slack.direct_messages(ALICE)) == 1
    assert len(mail_to(outside.smtp, "alice@example.com")) == 1
    assert len(outside.slack.direct_messages(BOB)) == 1
    assert _paged(await detail(second, alert_id)) == [
        ("bob", 0, "schedule:primary"),
        ("alice", 1, "schedule:primary"),
    ]


async def test_an_override_is_who_the_schedule_pages(
    outside: Outside, manual_clock: ManualClock
) -> None:
    tiers = "      - {after: 0s, notify: [{schedule: primary}]}"
    client = await outside.run(tiers, SCHEDULES)
    schedules = client.app[BUILT][-1].schedules
    await schedules.add_override(
        "primary", "alice", MONDAY - timedelta(hours=1), MONDAY + timedelta(hours=1), "api:test"
    )
    alert_id = await _fire(client, manual_clock)
    assert len(outside.slack.direct_messages(ALICE)) == 1
    assert outside.slack.direct_messages(BOB) == []
    assert _paged(await detail(client, alert_id)) == [("alice", 0, "schedule:primary")]


async def test_a_team_pages_every_member(outside: Outside, manual_clock: ManualClock) -> None:
    tiers = "      - {after: 0s, notify: [{team: core}, {person: alice}]}"
    client = await outside.run(tiers, SCHEDULES)
    alert_id = await _fire(client, manual_clock)
    # Alice is named twice in the tier: paged once, through the first entry that names her.
    assert len(outside.slack.direct_messages(ALICE)) == 1
    assert len(outside.slack.direct_messages(BOB)) == 1
    assert sorted(_paged(await detail(client, alert_id))) == [
        ("alice", 0, "team:core"),
        ("bob", 0, "team:core"),
    ]


async def test_nobody_on_call_falls_through_and_raises_the_gap_alert(
    outside: Outside, manual_clock: ManualClock
) -> None:
    tiers = """\
      - {after: 0s, notify: [{schedule: later}]}
      - {after: 15m, notify: [{person: bob}]}"""
    client = await outside.run(tiers, SCHEDULES)
    alert_id = await _fire(client, manual_clock)
    # Bob is paged at once, not fifteen minutes later.
    assert len(mail_to(outside.smtp, "bob@example.com")) >= 1
    found = await detail(client, alert_id)
    assert _paged(found) == [("bob", 1, "person:bob")]
    escalated = [e["note"] for e in found["events"] if e["kind"] == "escalated"]
    assert escalated == [
        "oncall tier 1; schedule:later reached nobody (nobody on call); on to tier 2 at once",
        "oncall tier 2",
    ]

    # Firebreak's own alert about the gap, through ingest like any other alert.
    gap_id = await _alert_id(client, "FirebreakOnCallGap")
    gap = await detail(client, gap_id)
    assert gap["status"] == "firing"
    assert gap["labels"] == {
        "alertname": "FirebreakOnCallGap",
        "severity": "critical",
        "schedule": "later",
    }
    assert "Nobody is on call for schedule later" in gap["annotations"]["summary"]
    assert [e["actor"] for e in gap["events"] if e["kind"] == "fired"] == ["firebreak"]
    assert gap["fingerprint"].startswith("firebreak:")  # which no webhook may send
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_oncall_gaps_total{schedule="later"}' in metrics

    # Somebody takes the schedule over: the gap alert resolves within minutes.
    schedules = client.app[BUILT][-1].schedules
    now = manual_clock()
    await schedules.add_override("later", "alice", now, now + timedelta(hours=8), "api:test")
    await manual_clock.advance(timedelta(minutes=5))
    assert (await detail(client, gap_id))["status"] == "resolved"
    # One occurrence for the gap, however many tiers met it.
    resp = await client.get("/api/v1/alerts?limit=100", headers=auth(VIEWER_TOKEN))
    names = [a["labels"]["alertname"] for a in (await resp.json())["alerts"]]
    assert names.count("FirebreakOnCallGap") == 1


async def test_the_channel_message_mentions_who_was_paged_and_stays_current(
    outside: Outside, manual_clock: ManualClock
) -> None:
    tiers = """\
      - {after: 0s, notify: [chat, {schedule: primary}]}
      - {after: 5m, notify: [{schedule: secondary}, {person: alice}]}"""
    client = await outside.run(tiers, SCHEDULES)
    await _fire(client, manual_clock)
    [parent] = outside.slack.top_messages(CHANNEL)
    assert f"*Paged* <@{BOB}> (tier 1)" in block_text(parent.blocks)
    edits = parent.edits
    await manual_clock.advance(timedelta(minutes=5))
    # Tier 2 reaches no channel, only people: the channel message is brought up to date.
    assert parent.edits > edits
    assert f"*Paged* <@{BOB}> (tier 1), <@{ALICE}> (tier 2)" in block_text(parent.blocks)
    assert len(outside.slack.top_messages(CHANNEL)) == 1
