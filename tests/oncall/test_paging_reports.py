"""The on-call report: pages per person and per week, pages outside working hours in each
person's own time zone, and time from page to acknowledgement by person — from real pages on
the manual clock, through the API and the console's Reports page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, VIEWER_TOKEN, WEBHOOK_TOKEN, auth
from tests.console.conftest import login
from tests.oncall.paging_setup import Outside
from tests.payloads import alert, webhook

HOOK = auth(WEBHOOK_TOKEN)
# Monday 7 December 2026, 10:00 UTC: 10:00 in London (working hours), 05:00 in New York.
MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
TIERS = """\
      - {after: 0s, notify: [{person: alice}]}
      - {after: 5m, notify: [{person: bob}]}"""


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(MONDAY)


async def _start(outside: Outside) -> Any:
    # A daily purge, not an hourly one: the week the test moves through is then a few steps of
    # the clock instead of 180, none of which touches a page.
    text = outside.config(TIERS, "retention: {interval: 1d}")
    text = text.replace(
        "slack_user_id: U0PALICE}", "slack_user_id: U0PALICE, time_zone: Europe/London}"
    )
    text = text.replace(
        "slack_user_id: U0PBOB}", "slack_user_id: U0PBOB, time_zone: America/New_York}"
    )
    return await outside.start(text)


async def _fire(client: Any, name: str) -> int:
    resp = await client.post("/webhook", json=webhook(alert(name), group_key=name), headers=HOOK)
    assert resp.status == 200
    listing = await client.get("/api/v1/alerts?limit=10", headers=auth(VIEWER_TOKEN))
    return next(
        a["id"] for a in (await listing.json())["alerts"] if a["labels"]["alertname"] == name
    )


async def _report(client: Any, **query: str) -> Any:
    resp = await client.get("/api/v1/reports/oncall", params=query, headers=auth(VIEWER_TOKEN))
    return resp.status, await resp.json()


async def test_pages_per_person_week_outside_hours_and_time_to_acknowledge(
    outside: Outside, manual_clock: ManualClock
) -> None:
    client = await _start(outside)
    first = await _fire(client, "DiskFull")
    await manual_clock.settle()  # alice paged at 10:00 London time
    await manual_clock.advance(timedelta(minutes=5))  # bob at 05:05 New York time
    await manual_clock.advance(timedelta(minutes=2))
    resp = await client.post(
        f"/api/v1/alerts/{first}/acknowledge", json={}, headers=auth(RESPONDER_TOKEN)
    )
    assert resp.status == 200
    # A week later, 22:00 in London: alice paged out of hours, nobody acknowledges yet.
    await manual_clock.advance(timedelta(days=7, hours=12) - timedelta(minutes=7))
    await _fire(client, "Latency")
    await manual_clock.advance(timedelta(minutes=1))

    status, report = await _report(client, since="2026-12-01T00:00:00Z")
    assert status == 200
    assert report["pages"] == 3
    assert report["working_hours"] == {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00",
        "end": "18:00",
    }
    people = {p["person"]: p for p in report["people"]}
    assert [p["person"] for p in report["people"]] == ["alice", "bob"]  # most paged first
    alice, bob = people["alice"], people["bob"]
    assert (alice["name"], alice["pages"], alice["outside_hours"]) == ("Alice Ng", 2, 1)
    assert alice["outside_hours_share"] == 0.5
    assert alice["time_to_ack"]["count"] == 1 and alice["time_to_ack"]["median_seconds"] == 420
    assert (bob["pages"], bob["outside_hours"], bob["outside_hours_share"]) == (1, 1, 1.0)
    assert bob["time_to_ack"]["median_seconds"] == 120
    assert report["weeks"] == [
        {"week": "2026-12-07", "person": "alice", "pages": 1},
        {"week": "2026-12-07", "person": "bob", "pages": 1},
        {"week": "2026-12-14", "person": "alice", "pages": 1},
    ]

    # The window counts pages made in it.
    status, later = await _report(client, since="2026-12-10T00:00:00Z")
    assert [(p["person"], p["pages"]) for p in later["people"]] == [("alice", 1)]

    # The console's Reports page shows the same figures.
    await login(client, VIEWER_TOKEN)
    page = await (await client.get("/console/reports?since=2026-12-01T00:00:00Z")).text()
    oncall = page[page.index("<h2>On call") :]
    assert "3 pages" in oncall
    assert '<td>Alice Ng</td><td class="number">2</td>' in oncall
    assert "mon, tue, wed, thu, fri 09:00-18:00" in oncall


async def test_a_bad_window_is_a_400_naming_the_parameter(
    outside: Outside, manual_clock: ManualClock
) -> None:
    client = await _start(outside)
    status, body = await _report(client, since="last tuesday")
    assert status == 400
    assert "since" in str(body)
