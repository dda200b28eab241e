"""Shifts from an iCalendar (RFC 5545) document: each event is a shift, and its attendees (by
email) or its summary (a person's id, name or email) say who is on call. Recurrence is
``recurring-ical-events``' business, not ours."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from receiver.config import PersonConfig
from receiver.errors import InvalidInput
from receiver.oncall.times import instant


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    people: tuple[str, ...]
    start: datetime
    end: datetime
    summary: str


class Calendar:
    """One schedule's calendar, parsed once; its events between two instants on demand."""

    def __init__(self, text: bytes | str, zone: ZoneInfo, people: Iterable[PersonConfig]) -> None:
        # Imported here, not with the module: icalendar and recurring-ical-events are about a
        # tenth of a second of every process's start, and only schedules with a calendar use
        # them.
        import icalendar

        try:
            self._calendar = icalendar.Calendar.from_ical(text)
        except (ValueError, IndexError, KeyError) as exc:
            expected = f"expected an iCalendar (RFC 5545) document: {str(exc)[:200]}"
            raise InvalidInput("ical", expected) from None
        # An event whose times cannot be read is left out (and counted), rather than making
        # every question about the schedule fail.
        self.broken = 0
        for parent in self._calendar.walk():
            kept = [c for c in parent.subcomponents if c.name != "VEVENT" or _readable(c)]
            self.broken += len(parent.subcomponents) - len(kept)
            parent.subcomponents[:] = kept
        self._zone = zone
        self._names: dict[str, str] = {}
        for person in people:
            for name in (person.id, person.name, person.email):
                if name:
                    self._names.setdefault(name.strip().lower(), person.id)
        self.unknown: set[str] = set()

    def between(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        import recurring_ical_events

        try:
            events = recurring_ical_events.of(self._calendar).between(start, end)
        except (ValueError, TypeError, KeyError):  # a recurrence rule it cannot follow
            self.broken += 1
            return []
        found: list[CalendarEvent] = []
        for event in events:
            begin = self._instant(event.get("DTSTART"))
            finish = self._instant(event.get("DTEND")) if event.get("DTEND") else None
            if begin is None:
                continue
            if finish is None:
                duration = event.get("DURATION")
                finish = begin + duration.dt if duration is not None else begin
            if finish <= begin:
                continue
            summary = str(event.get("SUMMARY", ""))
            found.append(CalendarEvent(self._people(event, summary), begin, finish, summary))
        return found

    def _instant(self, prop: Any) -> datetime | None:
        if prop is None:
            return None
        value = prop.dt
        if isinstance(value, datetime):
            if value.tzinfo is None:  # floating time: the schedule's zone
                return instant(value, self._zone)
            return value
        if isinstance(value, date):  # an all-day event starts at midnight in the zone
            return instant(datetime.combine(value, time(0)), self._zone)
        return None

    def _people(self, event: Any, summary: str) -> tuple[str, ...]:
        found: list[str] = []
        attendees = event.get("ATTENDEE")
        if attendees is not None and not isinstance(attendees, list):
            attendees = [attendees]
        for attendee in attendees or []:
            address = str(attendee)
            if address.lower().startswith("mailto:"):
                address = address[len("mailto:") :]
            person = self._names.get(address.strip().lower())
            if person is not None:
                found.append(person)
            else:
                self.unknown.add(address)
        if not found and summary.strip():
            person = self._names.get(summary.strip().lower())
            if person is not None:
                found.append(person)
            else:
                self.unknown.add(summary.strip())
        return tuple(dict.fromkeys(found))


_TIMES = ("DTSTART", "DTEND", "DURATION", "EXDATE", "RDATE")


def _readable(event: Any) -> bool:
    """Whether an event's times can be read (icalendar raises on a broken one when asked)."""
    try:
        if event.get("DTSTART") is None:
            return False
        for key in _TIMES:
            value = event.get(key)
            for each in value if isinstance(value, list) else [value]:
                if each is not None:
                    _ = each.dt if hasattr(each, "dt") else each.dts
    except (ValueError, TypeError, AttributeError):
        return False
    return True
