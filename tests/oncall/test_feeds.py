"""Calendar feeds per schedule and per person: valid RFC 5545 that ``icalendar`` reads back
shift by shift, overrides included; a feed opens only with its own token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import icalendar
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import Config
from receiver.oncall.feed import feed_path, feed_token
from tests.clock import ManualClock
from tests.conftest import RESPONDER_TOKEN, auth
from tests.oncall.common import utc

SECRET = "feed-secret-0123456789abcdef"
OTHER = "another-secret-0123456789"
ONCALL = f"""
people:
  - {{id: alice, name: Alice Archer}}
  - {{id: bob, name: Bob Baker}}
  - {{id: carol, name: Carol Chen}}
oncall: {{feed_secret: "{SECRET}", feed_days: 14}}
schedules:
  - id: primary
    name: Payments primary
    time_zone: Europe/London
    layers: [{{members: [alice, bob], shift: weekly, start: "2026-01-05"}}]
  - id: secondary
    time_zone: Europe/London
    layers: [{{members: [bob, alice], shift: weekly, start: "2026-01-05"}}]
"""

Client = TestClient[Any, Any]


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[Client]],
    sqlite_url: str,
    make_config: Callable[..., Config],
) -> Client:
    clock = ManualClock(utc(2026, 1, 6, 10))
    config = make_config(sqlite_url, ONCALL)
    app = create_app(config, clock=clock, monotonic=clock.monotonic, registry=CollectorRegistry())
    return await aiohttp_client(app)


async def _calendar(api: Client, path: str) -> icalendar.Calendar:
    resp = await api.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/calendar"
    body = await resp.read()
    assert body.startswith(b"BEGIN:VCALENDAR\r\n") and b"\r\n" in body
    assert max(len(line) for line in body.split(b"\r\n")) <= 75  # RFC 5545 folds lines at 75
    return icalendar.Calendar.from_ical(body)


def _events(calendar: icalendar.Calendar) -> list[tuple[str, Any, Any]]:
    events = calendar.walk("VEVENT")
    for event in events:
        for required in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            assert required in event, (required, event)
    assert len({e["UID"] for e in events}) == len(events)
    return [(str(e["SUMMARY"]), e["DTSTART"].dt, e["DTEND"].dt) for e in events]


async def test_a_schedule_feed_reads_back_shift_by_shift(api: Client) -> None:
    calendar = await _calendar(api, feed_path(SECRET, "schedule", "primary"))
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"] == "-//Firebreak//On call//EN"
    assert calendar["X-WR-CALNAME"] == "On call: Payments primary"
    # A week back (a gap before the rotation started) to two weeks ahead.
    assert _events(calendar) == [
        ("On call: Alice Archer (Payments primary)", utc(2026, 1, 5, 9), utc(2026, 1, 12, 9)),
        ("On call: Bob Baker (Payments primary)", utc(2026, 1, 12, 9), utc(2026, 1, 19, 9)),
        ("On call: Alice Archer (Payments primary)", utc(2026, 1, 19, 9), utc(2026, 1, 20, 10)),
    ]


async def test_a_person_feed_has_their_shifts_on_every_schedule_overrides_included(
    api: Client,
) -> None:
    resp = await api.post(
        "/api/v1/schedules/secondary/overrides",
        json={"person": "carol", "start": "2026-01-07T09:00:00Z", "duration": "1d"},
        headers=auth(RESPONDER_TOKEN),
    )
    assert resp.status == 201
    alice = _events(await _calendar(api, feed_path(SECRET, "person", "alice")))
    assert [(s, a.day, b.day) for s, a, b in alice] == [
        ("On call: Alice Archer (Payments primary)", 5, 12),
        ("On call: Alice Archer (secondary)", 12, 19),
        ("On call: Alice Archer (Payments primary)", 19, 20),
    ]
    carol = _events(await _calendar(api, feed_path(SECRET, "person", "carol")))
    assert carol == [
        ("On call: Carol Chen (secondary)", utc(2026, 1, 7, 9), utc(2026, 1, 8, 9)),
    ]
    bob = _events(await _calendar(api, feed_path(SECRET, "person", "bob")))
    assert [(a, b) for _, a, b in bob][:2] == [
        (utc(2026, 1, 5, 9), utc(2026, 1, 7, 9)),  # cut by Carol's override
        (utc(2026, 1, 8, 9), utc(2026, 1, 12, 9)),
    ]


@pytest.mark.parametrize(
    "path",
    [
        f"/oncall/feeds/schedule/primary/{feed_token(SECRET, 'schedule', 'secondary')}.ics",
        f"/oncall/feeds/person/primary/{feed_token(SECRET, 'schedule', 'primary')}.ics",
        f"/oncall/feeds/schedule/primary/{feed_token(OTHER, 'schedule', 'primary')}.ics",
        f"/oncall/feeds/schedule/primary/{feed_token(SECRET, 'schedule', 'primary')[:-1]}.ics",
        "/oncall/feeds/schedule/primary/.ics",
        f"/oncall/feeds/schedule/primary/{'A' * 10_000}.ics",
        f"/oncall/feeds/schedule/nope/{feed_token(SECRET, 'schedule', 'nope')}.ics",
        f"/oncall/feeds/person/mallory/{feed_token(SECRET, 'person', 'mallory')}.ics",
        "/oncall/feeds/schedule/..%2F..%2Fetc%2Fpasswd/x.ics",
    ],
)
async def test_a_feed_opens_only_with_its_own_token(api: Client, path: str) -> None:
    resp = await api.get(path)
    assert resp.status in (400, 404), await resp.text()  # 400: a URL over the server's limit
    assert b"BEGIN:VCALENDAR" not in await resp.read()


async def test_feeds_are_off_without_a_secret(
    aiohttp_client: Callable[..., Awaitable[Client]],
    sqlite_url: str,
    make_config: Callable[..., Config],
) -> None:
    config = make_config(sqlite_url, ONCALL.replace(f'feed_secret: "{SECRET}", ', ""))
    api = await aiohttp_client(create_app(config, registry=CollectorRegistry()))
    for token in ("", "x", feed_token("", "schedule", "primary")):
        resp = await api.get(f"/oncall/feeds/schedule/primary/{token}.ics")
        assert resp.status == 404


def test_a_short_feed_secret_is_refused_beyond_loopback() -> None:
    from receiver.config import parse_config
    from receiver.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config('listen: "0.0.0.0:9095"\noncall: {feed_secret: "short"}', env={})
    assert any("oncall.feed_secret" in p for p in info.value.problems), info.value.problems
    assert "short" not in str(info.value).replace("too short", "")
