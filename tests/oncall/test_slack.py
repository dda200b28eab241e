"""``/firebreak oncall`` and ``/firebreak override`` as Slack sends them (signed, through the
Slack fake): who is on now and next, an override by mention, by id or for oneself, roles and
audit rows; hostile arguments answered with what was expected, changing nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from tests.cases import by_first, each_case
from tests.clock import ManualClock
from tests.conftest import ADMIN_TOKEN, VIEWER_TOKEN, auth, eventually
from tests.fakes.slack import SlackFake
from tests.oncall.common import OFFICE, utc
from tests.slack_helpers import ALICE, STRANGER, VIEWER, command, slack_config, slash_answer

ONCALL = (
    """
people:
  - {id: alice, name: Alice Archer, slack_user_id: U0ALICE}
  - {id: bob, name: Bob Baker, slack_user_id: U0BOB}
  - {id: carol, name: "Carol <Chen> & co", slack_user_id: U0CAROL}
schedules:
  - id: payments
    name: Payments primary
    time_zone: Europe/London
    layers:
      - {members: [alice, bob], shift: weekly, start: "2026-01-05"}
"""
    + OFFICE
)


@pytest.fixture
async def client(aiohttp_client: Any, sqlite_url: str, make_config: Any, slack: SlackFake) -> Any:
    clock = ManualClock(utc(2026, 1, 6, 10))  # Tuesday: Alice's week; 05:00 in New York
    config = make_config(sqlite_url, slack_config(slack) + ONCALL)
    app = create_app(config, clock=clock, monotonic=clock.monotonic, registry=CollectorRegistry())
    return await aiohttp_client(app)


async def _who(client: Any) -> list[str]:
    resp = await client.get("/api/v1/schedules/payments/oncall", headers=auth(VIEWER_TOKEN))
    return [p["id"] for p in (await resp.json())["on_call"]]


async def _overrides(client: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/schedules/payments/shifts", headers=auth(VIEWER_TOKEN))
    return list((await resp.json())["overrides"])


async def _audited(client: Any, action: str) -> list[dict[str, Any]]:
    """The audit rows of ``action``: written just after the answer, in the background."""
    resp = await client.get(f"/api/v1/audit?action={action}", headers=auth(ADMIN_TOKEN))
    return list((await resp.json())["entries"])


async def test_oncall_says_who_is_on_now_and_next(client: Any, slack: SlackFake) -> None:
    every = (await slash_answer(client, slack, "oncall", VIEWER))["text"]
    assert every.splitlines() == [
        "*Payments primary*: Alice Archer until Mon 2026-01-12 09:00 GMT; "
        "next Bob Baker from Mon 2026-01-12 09:00 GMT",
        "*office*: nobody is on call now; next Bob Baker from Tue 2026-01-06 09:00 EST",
    ]
    one = await slash_answer(client, slack, "oncall payments", VIEWER)
    assert one["text"].startswith("*Payments primary*: Alice Archer until")
    assert one["response_type"] == "ephemeral"
    assert "<@" not in every  # nobody is pinged by asking
    missing = await slash_answer(client, slack, "oncall nope", VIEWER)
    assert missing["text"] == "Could not oncall: no schedule 'nope'; defined: office, payments."
    routes = await slash_answer(client, slack, "oncall service=db", VIEWER)
    assert "Route `all` → policy `oncall`" in routes["text"]


async def test_an_override_by_mention_is_who_is_on_call_and_audited(
    client: Any, slack: SlackFake
) -> None:
    answer = await slash_answer(client, slack, "override payments <@U0CAROL|carol> 4h", ALICE)
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith(
        "Carol &lt;Chen&gt; &amp; co is on call for *Payments primary* until "
        "Tue 2026-01-06 14:00 GMT (override "
    )
    assert await _who(client) == ["carol"]
    (made,) = await _overrides(client)
    assert made["created_by"] == "person:alice"
    (entry,) = await eventually(lambda: _audited(client, "override"), what="the audit row")
    assert (entry["actor"], entry["interface"], entry["target"], entry["outcome"]) == (
        "person:alice",
        "slack",
        "payments",
        "ok",
    )


async def test_an_override_for_oneself_until_a_local_time(client: Any, slack: SlackFake) -> None:
    answer = await slash_answer(client, slack, "override payments me until 18:30", ALICE)
    assert (
        "Alice Archer is on call for *Payments primary* until Tue 2026-01-06 18:30 GMT"
        in (answer["text"])
    )
    (made,) = await _overrides(client)
    assert (made["person"], made["end"]) == ("alice", "2026-01-06T18:30:00Z")
    earlier = await slash_answer(client, slack, "override payments @bob until 09:00", ALICE)
    assert "until Wed 2026-01-07 09:00 GMT" in earlier["text"]  # 09:00 has passed today


async def test_a_viewer_or_a_stranger_may_not_override(client: Any, slack: SlackFake) -> None:
    for user in (VIEWER, STRANGER):
        refused = await slash_answer(client, slack, "override payments carol 1h", user)
        assert "`override` needs the responder role" in refused["text"]
    assert await _overrides(client) == []


BAD_OVERRIDES = [
    ("override", "expected a schedule, a person and how long"),
    ("override payments carol", "expected a schedule, a person and how long"),
    ("override payments <script>alert(1)</script> 1h", "expected @person or a person id"),
    ("override '../../etc' carol 1h", "expected a schedule id"),
    ("override payments carol soon", "expected a duration such as 8h"),
    ("override payments carol 0s", "expected a duration above 0"),
    ("override payments carol until yesterday", "expected HH:MM or an RFC 3339 time"),
    ("override payments carol until 25:00", "expected HH:MM or an RFC 3339 time"),
    ("override payments carol 1h and more", "expected one duration"),
    ("override payments " + "x" * 5000 + " 1h", "expected @person or a person id"),
]


async def test_a_bad_override_says_what_was_expected(client: Any, slack: SlackFake) -> None:
    async def check(case: tuple[str, str]) -> None:
        text, expected = case
        answer = await slash_answer(client, slack, text, ALICE)
        assert expected in answer["text"], answer
        assert "<script>" not in answer["text"] and len(answer["text"]) < 1000
        assert await _overrides(client) == []

    await each_case(by_first(BAD_OVERRIDES), check)


WRONG_OVERRIDES = [
    ("override payments <@U0NOBODY> 1h", "person: that Slack user is not in people"),
    ("override payments mallory 1h", "person: expected the id of a person in people"),
    ("override payments carol 1y", "end: expected an override of at most 90 days"),
    ("override payments carol until 2025-01-01T00:00:00Z", "end: expected a time after"),
    ("override nope carol 1h", "no schedule"),
]


async def test_a_wrong_override_is_refused_and_changes_nothing(
    client: Any, slack: SlackFake
) -> None:
    async def check(case: tuple[str, str]) -> None:
        text, expected = case
        answer = await slash_answer(client, slack, text, ALICE)
        assert answer["text"].startswith("Could not override: "), answer
        assert expected in answer["text"], answer
        assert await _overrides(client) == []

    await each_case(by_first(WRONG_OVERRIDES), check)


async def test_a_replayed_or_unsigned_command_changes_nothing(
    client: Any, slack: SlackFake
) -> None:
    stale = await command(
        client, slack, "override payments carol 1h", ALICE, timestamp=int(time.time()) - 3600
    )
    assert stale.status == 401
    forged = await command(client, slack, "override payments carol 1h", ALICE, secret="guess")
    assert forged.status == 401
    assert await _overrides(client) == []
