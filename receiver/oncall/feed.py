"""Calendar feeds (RFC 5545) of who is on call, per schedule and per person, that Google
Calendar, Outlook and Apple Calendar subscribe to by URL.

A calendar app cannot send a bearer token, so each feed's URL carries its own secret: the
HMAC-SHA256 of the feed's name under ``oncall.feed_secret``, compared in constant time. One
feed's URL opens that feed only, and changing the secret revokes them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from receiver.config import PersonConfig
from receiver.config.oncall import ScheduleConfig
from receiver.oncall.model import Shift

# Calendar apps poll on their own schedule; these ask for every quarter of an hour (Google
# Calendar takes hours whatever is asked).
_REFRESH = timedelta(minutes=15)


def feed_token(secret: str, kind: str, name: str) -> str:
    """The URL token of the ``kind`` (``schedule`` or ``person``) feed ``name``."""
    digest = hmac.new(secret.encode(), f"{kind}:{name}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_matches(secret: str | None, kind: str, name: str, token: str) -> bool:
    """Whether ``token`` opens that feed (never when feeds are off), in constant time."""
    if not secret:
        return False
    return hmac.compare_digest(feed_token(secret, kind, name).encode(), token.encode())


def feed_path(secret: str, kind: str, name: str) -> str:
    return f"/oncall/feeds/{kind}/{name}/{feed_token(secret, kind, name)}.ics"


def calendar_feed(
    title: str,
    shifts: Iterable[tuple[ScheduleConfig, Shift]],
    people: Mapping[str, PersonConfig],
    now: datetime,
) -> bytes:
    """One VCALENDAR: a VEVENT per shift, its summary who is on call and for what."""
    import icalendar  # only when a feed is asked for: see receiver/oncall/ical.py

    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Firebreak//On call//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", title)
    calendar.add("x-wr-calname", title)
    calendar.add("refresh-interval", _REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", _REFRESH)
    for schedule, shift in shifts:
        names = ", ".join(_name(p, people) for p in shift.people)
        event = icalendar.Event()
        # Stable across fetches while the shift stays the same, so apps update rather than add.
        key = f"{schedule.id}|{shift.start.isoformat()}|{','.join(shift.people)}"
        event.add("uid", hashlib.sha256(key.encode()).hexdigest()[:32] + "@firebreak")
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"On call: {names} ({schedule.title})")
        what = {"layer": "rotation", "override": "override", "ical": "imported calendar"}
        event.add(
            "description",
            f"{names} on call for {schedule.title} ({what[shift.source]}).",
        )
        event.add("transp", "TRANSPARENT")  # being on call is not being busy
        calendar.add_component(event)
    document: bytes = calendar.to_ical()
    return document


def _name(person_id: str, people: Mapping[str, PersonConfig]) -> str:
    person = people.get(person_id)
    return person.name or person_id if person else person_id
