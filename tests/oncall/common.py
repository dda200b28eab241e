"""What the on-call tests share: a configuration of people and schedules from YAML, and
aware times written briefly."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from receiver.config import Config, parse_config
from receiver.oncall import OnCall, Override

PEOPLE = """
people:
  - {id: alice, name: Alice Archer, email: alice@example.com, time_zone: Europe/London}
  - {id: bob, name: Bob Baker, email: bob@example.com, time_zone: America/New_York}
  - {id: carol, name: Carol Chen, email: carol@example.com, time_zone: Australia/Sydney}
  - {id: dave, name: Dave Diaz, email: dave@example.com}
"""

# A schedule item: Bob in New York office hours on weekdays, nobody otherwise.
OFFICE = """
  - id: office
    time_zone: America/New_York
    layers:
      - members: [bob]
        start: "2026-01-05"
        restrictions: [{days: weekdays, start: "09:00", end: "17:00"}]
"""


def config(text: str) -> Config:
    return parse_config(textwrap.dedent(PEOPLE) + textwrap.dedent(text), source="f.yml", env={})


def engine(text: str, overrides: tuple[Override, ...] = ()) -> OnCall:
    parsed = config(text)
    return OnCall(parsed.schedules, parsed.people, overrides)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def at(zone: str, *parts: int, fold: int = 0) -> datetime:
    """A wall-clock time in ``zone`` as an aware UTC datetime."""
    return datetime(*parts, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)  # type: ignore[misc]


def override(
    person: str, start: datetime, end: datetime, *, id: int = 1, schedule: str = "s", made: int = 0
) -> Override:
    return Override(id, schedule, person, start, end, "person:dave", utc(2026, 1, 1, 0, made))


def ics(*events: str) -> str:
    """An iCalendar document of ``events`` (each the lines inside one VEVENT, ``\n``-separated),
    with the CRLF line ends RFC 5545 asks for."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Example//Rota//EN"]
    for n, event in enumerate(events):
        lines += ["BEGIN:VEVENT", f"UID:{n}@example.com", "DTSTAMP:20260101T000000Z"]
        lines += event.strip().splitlines()
        lines.append("END:VEVENT")
    return "\r\n".join([*lines, "END:VCALENDAR", ""])
