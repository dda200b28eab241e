"""Schedules from iCalendar: a file with recurring events read into shifts, a URL fetched
through the allow-list, the last good copy kept when a fetch fails (and /health/detailed
saying so), and hostile calendars refused without harm."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import create_app
from receiver.config import Config
from receiver.errors import InvalidInput
from receiver.oncall import OnCall
from receiver.oncall.ical import Calendar
from tests.clock import ManualClock
from tests.conftest import VIEWER_TOKEN, auth, eventually
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.oncall.common import at, config, ics, utc

# Weekly rotation as Google Calendar or PagerDuty would export it: Alice by attendee on even
# weeks, Bob by summary on odd weeks, one of Bob's weeks cancelled (EXDATE), a floating-time
# event, and a stranger nobody in people is.
ROTA = ics(
    """
DTSTART;TZID=Europe/London:20260105T090000
DTEND;TZID=Europe/London:20260112T090000
RRULE:FREQ=WEEKLY;INTERVAL=2
SUMMARY:On call - primary
ATTENDEE;CN=Alice:mailto:ALICE@example.com
""",
    """
DTSTART;TZID=Europe/London:20260112T090000
DTEND;TZID=Europe/London:20260119T090000
RRULE:FREQ=WEEKLY;INTERVAL=2
EXDATE;TZID=Europe/London:20260126T090000
SUMMARY:Bob Baker
""",
    """
DTSTART:20260301T120000
DTEND:20260301T130000
SUMMARY:carol
""",
    """
DTSTART:20260401T000000Z
DTEND:20260402T000000Z
SUMMARY:Mallory
""",
)


def _calendar(text: str = ROTA) -> tuple[OnCall, Calendar]:
    parsed = config("schedules: [{id: s, time_zone: Europe/London, ical: rota.ics}]")
    calendar = Calendar(text, ZoneInfo("Europe/London"), parsed.people)
    return OnCall(parsed.schedules, parsed.people, (), {"s": calendar}), calendar


def test_events_are_shifts_and_name_people_by_attendee_or_summary() -> None:
    oncall, calendar = _calendar()
    tz = "Europe/London"
    assert oncall.who("s", at(tz, 2026, 1, 5, 8, 59)) == ()
    assert oncall.who("s", at(tz, 2026, 1, 5, 9)) == ("alice",)
    assert oncall.who("s", at(tz, 2026, 1, 12, 9)) == ("bob",)
    assert oncall.who("s", at(tz, 2026, 1, 19, 9)) == ("alice",)
    assert oncall.who("s", at(tz, 2026, 1, 26, 9)) == ()  # Bob's cancelled week: a gap
    assert oncall.who("s", at(tz, 2026, 2, 9, 9)) == ("bob",)
    # Recurrence keeps 09:00 local across the change of 29 March.
    assert oncall.who("s", utc(2026, 3, 30, 7, 59)) == ("bob",)
    assert oncall.who("s", utc(2026, 3, 30, 8, 0)) == ("alice",)
    # A floating time is the schedule's zone (1 March is still GMT); events at once put their
    # people on call together.
    assert oncall.who("s", utc(2026, 3, 1, 11, 59)) == ("bob",)
    assert oncall.who("s", utc(2026, 3, 1, 12, 30)) == ("bob", "carol")
    gaps = oncall.gaps("s", at(tz, 2026, 1, 26), at(tz, 2026, 2, 3))
    assert [(g.start, g.end) for g in gaps] == [(at(tz, 2026, 1, 26, 9), at(tz, 2026, 2, 2, 9))]
    oncall.shifts("s", utc(2026, 3, 25), utc(2026, 4, 5))
    assert "Mallory" in calendar.unknown
    assert oncall.who("s", utc(2026, 4, 1, 12)) == ("alice",)  # Mallory names nobody


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a calendar",
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "BEGIN:VCALENDAR\r\n" * 2000,
        "BEGIN:VCALENDAR\r\nX-" + "A" * 100_000 + ":x\r\nEND:VCALENDAR\r\n",
    ],
)
def test_a_calendar_that_is_not_one_is_refused_or_has_no_shifts(text: str) -> None:
    try:
        oncall, _ = _calendar(text)
    except InvalidInput as exc:
        assert exc.field == "ical"
        return
    assert oncall.shifts("s", utc(2026, 1, 1), utc(2026, 2, 1)) == []


def test_a_calendar_url_must_be_on_the_allow_list() -> None:
    from receiver.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        config("schedules: [{id: s, ical: 'https://evil.example.net/x.ics?token=abc'}]")
    assert info.value.problems == [
        'f.yml: schedules[0].ical: host "evil.example.net" port 443 is not in oncall.ical_hosts'
    ]
    assert "token=abc" not in str(info.value)


Client = TestClient[Any, Any]


@pytest.fixture
async def calendar_host() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as fake:
        yield fake


async def _health(api: Client) -> dict[str, Any]:
    resp = await api.get("/health/detailed", headers=auth(VIEWER_TOKEN))
    found: dict[str, Any] = (await resp.json())["checks"]["calendars"]
    return found


async def _who(api: Client) -> list[str]:
    resp = await api.get("/api/v1/schedules/rota/oncall", headers=auth(VIEWER_TOKEN))
    return [p["id"] for p in (await resp.json())["on_call"]]


async def test_a_calendar_url_is_fetched_and_its_last_good_copy_kept(
    aiohttp_client: Callable[..., Awaitable[Client]],
    sqlite_url: str,
    make_config: Callable[..., Config],
    calendar_host: WebhookReceiver,
    tmp_path: Path,
) -> None:
    clock = ManualClock(utc(2026, 1, 6, 10))
    url = f"{calendar_host.url}/private/rota.ics?token=s3cr3t-calendar-token"
    app_config = make_config(
        sqlite_url,
        f"""
people: [{{id: alice, email: alice@example.com}}, {{id: bob, name: Bob Baker}}]
oncall: {{ical_hosts: ["127.0.0.1"], ical_refresh: 5m}}
schedules: [{{id: rota, time_zone: Europe/London, ical: "{url}"}}]
""",
    )
    calendar_host.script(Reply(200, {"Content-Type": "text/calendar"}, ROTA.encode()))
    api = await aiohttp_client(
        create_app(app_config, clock=clock, monotonic=clock.monotonic, registry=CollectorRegistry())
    )
    clock.watch(api.app)
    assert await _who(api) == ["alice"]
    health = await _health(api)
    assert health["status"] == "ok"
    assert health["calendars"][0]["source"] == "http://127.0.0.1/…"
    assert len(calendar_host.requests) == 1
    assert calendar_host.requests[0].path.startswith("/hook/private/rota.ics?token=")

    # The host fails; after ical_refresh the next ask fetches again in the background.
    calendar_host.script(Reply(500, body=b"oops"))
    await clock.advance(299)
    assert await _who(api) == ["alice"]
    assert len(calendar_host.requests) == 1
    await clock.advance(1)
    assert await _who(api) == ["alice"]  # answered from the copy while the fetch runs

    async def degraded() -> dict[str, Any] | None:
        found = await _health(api)
        return found if found["status"] == "degraded" else None

    health = await eventually(degraded, what="the failed fetch reported")
    entry = health["calendars"][0]
    assert entry["error"] == "answered HTTP 500" and entry["using_last_good_copy"] is True
    assert entry["loaded_at"] == "2026-01-06T10:00:00Z"
    assert "s3cr3t" not in str(health)
    assert await _who(api) == ["alice"]

    # A redirect is an answer, not followed; and the copy stays.
    calendar_host.script(Reply(302, {"Location": "http://169.254.169.254/latest/meta-data"}))
    await clock.advance(300)
    await _who(api)
    await eventually(lambda: len(calendar_host.requests) == 3, what="the third fetch")

    async def redirect_reported() -> dict[str, Any] | None:
        found = await _health(api)
        return found if found["calendars"][0]["error"] == "answered HTTP 302" else None

    await eventually(redirect_reported, what="the redirect refused")
    assert len(calendar_host.requests) == 3
    assert await _who(api) == ["alice"]

    # The host is back with a new rota: it is used from the next refresh.
    calendar_host.script(
        Reply(200, body=ROTA.replace("ALICE@", "nobody@").replace("On call - primary", "bob"))
    )
    await clock.advance(300)
    await _who(api)

    async def recovered() -> dict[str, Any] | None:
        found = await _health(api)
        return found if found["status"] == "ok" else None

    await eventually(recovered, what="the calendar read again")
    assert await _who(api) == ["bob"]
