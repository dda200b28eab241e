"""Hand-offs: at the start of a shift the incoming person gets a Slack direct message, and the
team's Slack user group follows who is on call (``usergroups.users.update``) — durable jobs,
retried, audited, neither lost nor doubled by a restart. Slack fake, manual clock; SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, auth, eventually
from tests.oncall.paging_setup import ALICE, BOB, Outside

# Monday 7 December 2026, ten minutes before the daily 09:00 UTC hand-off: bob is primary
# until 09:00 (Sunday's shift), alice from then, bob again from Tuesday 09:00.
MONDAY = datetime(2026, 12, 7, 8, 50, tzinfo=UTC)
GROUP = "S0CORE"
ONCALL = f"""
teams:
  - {{id: core, members: [alice, bob], slack_user_group: {GROUP}, schedules: [primary]}}
schedules:
  - id: primary
    name: Payments primary
    handoff_notify: true
    layers: [{{members: [alice, bob], shift: daily, handoff: "09:00", start: "2026-12-01"}}]
"""
TIERS = "      - {after: 0s, notify: [{schedule: primary}]}"


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(MONDAY)


async def _start(outside: Outside) -> Any:
    outside.slack.user_groups[GROUP] = []
    return await outside.run(TIERS, ONCALL)


async def _audit(client: Any, action: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/audit?action={action}", headers=auth(ADMIN_TOKEN))
    assert resp.status == 200
    return (await resp.json())["entries"]  # type: ignore[no-any-return]


async def test_the_incoming_person_is_told_and_the_user_group_follows(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    client = await _start(outside)
    await manual_clock.settle()
    # At start the group is set to who is on call; nobody is told anything yet.
    assert slack.user_groups[GROUP] == [BOB]
    assert slack.direct_messages(ALICE) == [] and slack.direct_messages(BOB) == []

    await manual_clock.advance(timedelta(minutes=9, seconds=59))
    assert slack.direct_messages(ALICE) == []
    await manual_clock.advance(timedelta(seconds=1))  # 09:00
    [dm] = slack.direct_messages(ALICE)
    assert "on call for *Payments primary* from Mon 07 Dec 09:00 until Tue 08 Dec 09:00" in dm.text
    assert slack.user_groups[GROUP] == [ALICE]
    assert slack.direct_messages(BOB) == []

    await manual_clock.advance(timedelta(days=1))  # Tuesday 09:00: bob's turn
    assert len(slack.direct_messages(BOB)) == 1 and len(slack.direct_messages(ALICE)) == 1
    assert slack.user_groups[GROUP] == [BOB]
    updates = slack.called("usergroups.users.update")
    assert [c.args["users"] for c in updates] == [BOB, ALICE, BOB]

    told = await _audit(client, "oncall.handoff_dm")
    assert sorted(e["target"] for e in told) == ["primary:alice", "primary:bob"]
    groups = await _audit(client, "oncall.user_group")
    assert {e["target"] for e in groups} == {f"core:{GROUP}"}
    assert all(e["actor"] == "firebreak" and e["outcome"] == "ok" for e in groups)


async def test_a_restart_neither_loses_nor_doubles_a_hand_off(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    first = await _start(outside)
    await manual_clock.advance(timedelta(minutes=10))  # 09:00: alice told
    assert len(slack.direct_messages(ALICE)) == 1
    manual_clock.forget(first.app)
    await first.close()

    # Down for a while; started again on the same database, mid-shift.
    await manual_clock.advance(timedelta(hours=3))
    second = await outside.run(TIERS, ONCALL)
    await manual_clock.settle()
    assert len(slack.direct_messages(ALICE)) == 1  # not told twice
    # Down across the next hand-off: bob is told once when Firebreak is back.
    manual_clock.forget(second.app)
    await second.close()
    await manual_clock.advance(timedelta(days=1))
    third = await outside.run(TIERS, ONCALL)
    await manual_clock.advance(timedelta(minutes=1))
    assert len(slack.direct_messages(BOB)) == 1
    assert slack.user_groups[GROUP] == [BOB]
    assert len(slack.direct_messages(ALICE)) == 1
    await manual_clock.advance(timedelta(hours=2))
    assert len(slack.direct_messages(BOB)) == 1
    assert third is not None


async def test_a_hand_off_cut_off_at_shutdown_is_not_told_twice(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    slack.user_groups[GROUP] = []
    first = await outside.run(TIERS, ONCALL + "shutdown_grace: 1s\n")
    await manual_clock.advance(timedelta(minutes=9, seconds=59))
    slack.hold("chat.postMessage")  # the DM posted at Slack; the answer never comes back
    moving = asyncio.create_task(manual_clock.advance(timedelta(seconds=1)))  # 09:00
    await eventually(lambda: slack.direct_messages(ALICE), what="alice told")
    manual_clock.forget(first.app)  # the clock stops waiting for a runner that is stuck
    await moving
    await first.close()  # the DM's job is cut off and handed back unrecorded
    slack.released.set()

    second = await outside.run(TIERS, ONCALL)
    await manual_clock.advance(timedelta(seconds=1))
    assert len(slack.direct_messages(ALICE)) == 1  # not told twice
    assert len(slack.called("conversations.history")) == 1  # the run after the restart looked
    told = await _audit(second, "oncall.handoff_dm")
    assert [e["target"] for e in told] == ["primary:alice"]


async def test_a_hand_off_held_back_by_slack_asks_nothing_before_it_is_posted(
    outside: Outside, manual_clock: ManualClock
) -> None:
    slack = outside.slack
    await _start(outside)
    await manual_clock.advance(timedelta(minutes=9, seconds=59))
    slack.rate_limit("chat.postMessage", retry_after=5)  # refused: nothing posted
    await manual_clock.advance(timedelta(seconds=1))  # 09:00
    assert slack.direct_messages(ALICE) == []
    await manual_clock.advance(timedelta(seconds=5))  # Retry-After waited out
    assert len(slack.direct_messages(ALICE)) == 1
    # Slack's reads are rate-limited: a run merely deferred does not look for its message.
    assert slack.called("conversations.history") == []


async def test_a_failed_update_is_retried(outside: Outside, manual_clock: ManualClock) -> None:
    slack = outside.slack
    slack.fail("usergroups.users.update", "internal_error", times=2, status=500)
    slack.fail("chat.postMessage", "internal_error", times=1, status=500)
    await _start(outside)
    await manual_clock.advance(timedelta(minutes=11))
    assert slack.user_groups[GROUP] == [ALICE]
    assert len(slack.direct_messages(ALICE)) == 1
    # After a failed attempt the retry looks first: the failure may have come after the post.
    assert len(slack.called("conversations.history")) == 1
