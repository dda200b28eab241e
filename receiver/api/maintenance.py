"""``/api/v1/maintenance``: maintenance windows listed (viewer), made and ended early
(responder)."""

from __future__ import annotations

from aiohttp import web

from receiver.maintenance import Maintenance
from receiver.model import Role
from receiver.typedefs import BUILT, TOKEN_AUTH
from receiver.views import window_json
from receiver.web.maintenance import parse_window_request
from receiver.web.request import read_json_object

BODY_LIMIT = 16 * 1024


def _maintenance(request: web.Request) -> Maintenance:
    return request.app[BUILT][-1].maintenance


async def list_windows(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    maintenance = _maintenance(request)
    now = maintenance.now()
    windows = await maintenance.windows(at=now)
    return web.json_response({"windows": [window_json(w, now) for w in windows]})


async def create_window(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    maintenance = _maintenance(request)
    body = await read_json_object(request, BODY_LIMIT)
    window = parse_window_request(body, maintenance.now())
    made = await maintenance.create(window, principal.actor("api"))
    return web.json_response(window_json(made, maintenance.now()), status=201)


async def end_window(request: web.Request) -> web.Response:
    principal = request.app[TOKEN_AUTH].require(request.headers, Role.RESPONDER)
    maintenance = _maintenance(request)
    ended = await maintenance.end(request.match_info["name"], principal.actor("api"))
    return web.json_response(window_json(ended, maintenance.now()))
