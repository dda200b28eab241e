"""``/api/v1/schedules``: who is on call, the shifts ahead, and overrides (responder)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from receiver.alertmanager import format_rfc3339
from receiver.errors import InvalidInput, NotFound
from receiver.model import Role
from receiver.oncall.feed import calendar_feed, token_matches
from receiver.oncall.views import (
    gap_json,
    override_json,
    person_json,
    schedule_json,
    shift_json,
)
from receiver.schedules import Schedules, parse_instant, parse_window
from receiver.typedefs import BUILT, CONFIG, TOKEN_AUTH
from receiver.web.params import route_id
from receiver.web.request import read_json_object

BODY_LIMIT = 16 * 1024


def _schedules(request: web.Request) -> Schedules:
    return request.app[BUILT][-1].schedules


def _people(request: web.Request) -> dict[str, Any]:
    return {p.id: p for p in request.app[CONFIG].people}


async def list_schedules(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    schedules = _schedules(request)
    engine = await schedules.engine()
    now = schedules.now()
    people = _people(request)
    return web.json_response(
        {
            "schedules": [
                {
                    **schedule_json(s),
                    "on_call": [person_json(p, people) for p in engine.who(s.id, now)],
                }
                for s in engine.schedules
            ]
        }
    )


async def oncall(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    schedules = _schedules(request)
    at = parse_instant(request.query.get("at"), "at", schedules.now())
    found = await schedules.now_and_next(request.match_info["id"], at)
    people = _people(request)
    current, following = found.current, found.following
    return web.json_response(
        {
            "schedule": found.schedule.id,
            "at": format_rfc3339(found.at),
            "on_call": [person_json(p, people) for p in current.people] if current else [],
            "shift": shift_json(current, people) if current else None,
            "next": shift_json(following, people) if following else None,
        }
    )


async def shifts(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    schedules = _schedules(request)
    start = parse_instant(request.query.get("from"), "from", schedules.now())
    end = parse_instant(request.query.get("to"), "to", start + timedelta(days=7))
    rota = await schedules.rota(request.match_info["id"], start, end)
    people = _people(request)
    return web.json_response(
        {
            "schedule": rota.schedule.id,
            "from": format_rfc3339(rota.start),
            "to": format_rfc3339(rota.end),
            "shifts": [shift_json(s, people) for s in rota.shifts],
            "gaps": [gap_json(g) for g in rota.gaps],
            "overrides": [override_json(o) for o in rota.overrides],
        }
    )


async def add_override(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    body = await read_json_object(request, BODY_LIMIT)
    schedules = _schedules(request)
    person = body.get("person")
    if not isinstance(person, str):
        raise InvalidInput("person", "expected the id of a person in people")
    start, end = parse_window(
        schedules.now(), start=body.get("start"), end=body.get("end"), duration=body.get("duration")
    )
    made = await schedules.add_override(
        request.match_info["id"], person, start, end, principal.actor("api")
    )
    return web.json_response(override_json(made), status=201)


async def delete_override(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    override_id = route_id(request, "override", key="override")
    deleted = await _schedules(request).delete_override(request.match_info["id"], override_id)
    return web.json_response(override_json(deleted))


async def schedule_feed(request: web.Request) -> web.Response:
    return await _feed(request, "schedule")


async def person_feed(request: web.Request) -> web.Response:
    return await _feed(request, "person")


async def _feed(request: web.Request, kind: str) -> web.Response:
    """A calendar feed: its URL's token is its credential (calendar apps send no header).
    A wrong token and an unknown name are the same 404, so neither can be told apart."""
    name, token = request.match_info["id"], request.match_info["token"]
    secret = request.app[CONFIG].oncall.feed_secret
    if not token_matches(secret, kind, name, token):
        raise NotFound("no such calendar feed")
    schedules = _schedules(request)
    title, shifts = await schedules.feed_shifts(kind, name)
    body = calendar_feed(title, shifts, _people(request), schedules.now())
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
