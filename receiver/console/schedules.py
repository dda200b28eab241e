"""Schedules: the list with who is on call now, and one schedule drawn over the next two weeks
— each layer, the overrides, and the final rota — with overrides made and deleted from the
page through the same ``Schedules`` service as the API (audited as ``schedule_override`` and
``schedule_override_delete`` from the ``console`` interface)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from receiver.config import PersonConfig
from receiver.console.access import Form, action, page, text_field
from receiver.console.executions import actor_of
from receiver.console.render import redirect, render
from receiver.console.session import Session
from receiver.errors import NotFound
from receiver.model import Role, parse_id
from receiver.oncall import Override, Shift
from receiver.oncall.checks import local_time
from receiver.oncall.feed import feed_path
from receiver.oncall.times import instant
from receiver.schedules import Schedules, parse_window
from receiver.typedefs import BUILT, CONFIG

DRAWN = timedelta(days=14)
WIDTH = 1000  # the drawing's units across the two weeks
_COLOURS = 8  # person-0 … person-7 in console.css


@dataclass(frozen=True, slots=True)
class Bar:
    """One shift drawn: where it starts and how wide it is, whose colour, and its tooltip."""

    x: float
    width: float
    colour: str
    label: str
    title: str


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    bars: list[Bar]


def _schedules(request: web.Request) -> Schedules:
    return request.app[BUILT][-1].schedules


@page(Role.VIEWER)
async def schedules_page(request: web.Request, session: Session) -> web.StreamResponse:
    schedules = _schedules(request)
    engine = await schedules.engine()
    now = schedules.now()
    people = _people(request)
    rows = [(s, [_name(p, people) for p in engine.who(s.id, now)]) for s in engine.schedules]
    return render(request, "schedules.html", session, rows=rows)


@page(Role.VIEWER)
async def schedule_page(request: web.Request, session: Session) -> web.StreamResponse:
    schedules = _schedules(request)
    config = request.app[CONFIG]
    zone = ZoneInfo(schedules.schedule(request.match_info["id"]).time_zone)
    # From the start of today in the schedule's zone, two weeks on.
    now = schedules.now()
    start = instant(datetime.combine(now.astimezone(zone).date(), datetime.min.time()), zone)
    rota = await schedules.rota(request.match_info["id"], start, start + DRAWN)
    people = _people(request)
    names = [
        f"Layer {n + 1}" + (f": {layer.name}" if layer.name else "")
        for n, layer in enumerate(rota.schedule.layers)
    ] or ["Calendar"]
    layer_rows = [
        Row(name, [_bar(s, start, people, zone) for s in shifts])
        for name, shifts in zip(names, rota.layers, strict=True)
    ]
    override_row = Row("Overrides", [_override_bar(o, start, people, zone) for o in rota.overrides])
    final_row = Row("On call", [_bar(s, start, people, zone) for s in rota.shifts])
    secret = config.oncall.feed_secret
    base = f"{request.scheme}://{request.host}"
    feeds = (
        {
            "schedule": base + feed_path(secret, "schedule", rota.schedule.id),
            "people": [
                (_name(p, people), base + feed_path(secret, "person", p))
                for p in sorted({p for s in rota.shifts for p in s.people})
            ],
        }
        if secret
        else None
    )
    return render(
        request,
        "schedule.html",
        session,
        schedule=rota.schedule,
        zone=zone,
        rows=[*layer_rows, override_row, final_row],
        days=[_day(start, n, zone) for n in range(DRAWN.days)],
        shifts=rota.shifts,
        gaps=rota.gaps,
        overrides=rota.overrides,
        people=config.people,
        names=people,
        feeds=feeds,
        when=lambda at: local_time(at, zone),
        now_x=_x(now, start),
        width=WIDTH,
    )


@action(Role.RESPONDER)
async def add_override(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    schedules = _schedules(request)
    schedule_id = request.match_info["id"]
    start, end = parse_window(
        schedules.now(),
        start=text_field(form, "start"),
        end=text_field(form, "end"),
        duration=text_field(form, "duration"),
    )
    person = text_field(form, "person") or ""
    await schedules.add_override(schedule_id, person, start, end, actor_of(session))
    return redirect(str(request.app.router["console_schedule"].url_for(id=schedule_id)))


@action(Role.RESPONDER)
async def delete_override(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    schedule_id = request.match_info["id"]
    override_id = parse_id(text_field(form, "override") or "")
    if override_id is None:
        raise NotFound(f"schedule {schedule_id[:64]!r} has no such override")
    await _schedules(request).delete_override(schedule_id, override_id)
    return redirect(str(request.app.router["console_schedule"].url_for(id=schedule_id)))


def _people(request: web.Request) -> dict[str, PersonConfig]:
    return {p.id: p for p in request.app[CONFIG].people}


def _name(person_id: str, people: dict[str, PersonConfig]) -> str:
    person = people.get(person_id)
    return (person.name or person_id) if person else person_id


def _x(at: datetime, start: datetime) -> float:
    offset = (at - start) / DRAWN
    return round(min(max(offset, 0.0), 1.0) * WIDTH, 2)


def _colour(people: tuple[str, ...]) -> str:
    if not people:
        return "gap"
    return f"person-{zlib.crc32(people[0].encode()) % _COLOURS}"


def _bar(shift: Shift, start: datetime, people: dict[str, PersonConfig], zone: ZoneInfo) -> Bar:
    names = ", ".join(_name(p, people) for p in shift.people)
    x = _x(shift.start, start)
    return Bar(
        x,
        round(_x(shift.end, start) - x, 2),
        _colour(shift.people),
        names,
        f"{names}: {local_time(shift.start, zone)} → {local_time(shift.end, zone)}",
    )


def _override_bar(
    override: Override, start: datetime, people: dict[str, PersonConfig], zone: ZoneInfo
) -> Bar:
    shift = Shift((override.person,), override.start, override.end, "override", None, override.id)
    drawn = _bar(shift, start, people, zone)
    return Bar(
        drawn.x, drawn.width, drawn.colour, drawn.label, f"{drawn.title} (by {override.created_by})"
    )


def _day(start: datetime, n: int, zone: ZoneInfo) -> dict[str, Any]:
    midnight = datetime.combine(
        start.astimezone(zone).date() + timedelta(days=n), datetime.min.time()
    )
    at = instant(midnight, zone)
    return {
        "x": _x(at, start),
        "label": midnight.strftime("%a %d %b"),
        "weekend": midnight.weekday() >= 5,
    }
