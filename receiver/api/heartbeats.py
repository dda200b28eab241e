"""``/api/v1/heartbeats``: a beat from a cron job, batch run or backup (its own token), and
every heartbeat's state (viewer)."""

from __future__ import annotations

from aiohttp import web

from receiver.access.auth import bearer_token
from receiver.errors import InvalidInput
from receiver.heartbeats import Heartbeats, heartbeat_json
from receiver.model import Role
from receiver.plain import echoed_name, printable
from receiver.typedefs import BUILT, CLOCK, TOKEN_AUTH
from receiver.web.request import optional_text, read_json_object

# A beat carries at most a short message: what ran, how long it took, what it backed up.
BEAT_BODY_LIMIT = 4 * 1024
MESSAGE_LIMIT = 1000
_BEAT_FIELDS = ("message",)


def _heartbeats(request: web.Request) -> Heartbeats:
    return request.app[BUILT][-1].heartbeats


async def beat(request: web.Request) -> web.Response:
    heartbeats = _heartbeats(request)
    name = request.match_info["name"]
    heartbeats.authenticate(name, bearer_token(request.headers))
    body = await read_json_object(request, BEAT_BODY_LIMIT)
    unknown = sorted(echoed_name(key) for key in body if key not in _BEAT_FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], f"unknown field; expected {', '.join(_BEAT_FIELDS)}")
    message = optional_text(body, "message", MESSAGE_LIMIT)
    if message is not None and not printable(message, "\n\t"):
        raise InvalidInput("message", "expected text without control characters")
    status = await heartbeats.beat(name, message, request.app[CLOCK]())
    return web.json_response(heartbeat_json(status))


async def list_heartbeats(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    statuses = await _heartbeats(request).statuses(request.app[CLOCK]())
    return web.json_response({"heartbeats": [heartbeat_json(s) for s in statuses]})
