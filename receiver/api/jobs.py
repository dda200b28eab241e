"""``/api/v1/jobs``: the durable queue, dead letters, and their retry (admin)."""

from __future__ import annotations

from aiohttp import web

from receiver.errors import InvalidInput
from receiver.model import Role
from receiver.typedefs import STORE, TOKEN_AUTH
from receiver.views import job_json
from receiver.web.ops import retry_dead_job
from receiver.web.params import parse_int, parse_limit, route_id

_STATES = ("pending", "running", "done", "dead")


async def list_jobs(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    q = request.query
    state = q.get("state")
    if state is not None and state not in _STATES:
        raise InvalidInput("state", f'expected one of {", ".join(_STATES)}, got "{state}"')
    limit = parse_limit(q, 100)
    cursor = parse_int(q["cursor"]) if q.get("cursor") else None
    if q.get("cursor") and cursor is None:
        raise InvalidInput("cursor", "expected the next_cursor of a previous page")
    store = request.app[STORE]
    async with store.connection() as conn:
        found = await store.jobs.list_jobs(conn, state, q.get("kind"), limit + 1, cursor)
    page, more = found[:limit], len(found) > limit
    return web.json_response(
        {
            "jobs": [job_json(j) for j in page],
            "next_cursor": str(page[-1].id) if more else None,
        }
    )


async def retry_job(request: web.Request) -> web.Response:
    request.app[TOKEN_AUTH].require(request.headers, Role.ADMIN)
    job_id = route_id(request, "job")
    return web.json_response(job_json(await retry_dead_job(request.app, job_id)))
