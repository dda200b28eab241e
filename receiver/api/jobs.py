"""``/api/v1/jobs``: the durable queue, dead letters, and their retry (admin)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.api.common import parse_int, parse_limit, ts
from receiver.deadletters import DeadLetters
from receiver.errors import InvalidInput, NotFound
from receiver.model import Role
from receiver.store.jobs import Job
from receiver.typedefs import CLOCK, RUNNER, STORE, TOKEN_AUTH

_STATES = ("pending", "running", "done", "dead")


def job_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "payload": job.payload,
        "due_at": ts(job.due_at),
        "attempts": job.attempts,
        "last_error": job.last_error,
        "outcome": job.outcome,
        "idempotency_key": job.idempotency_key,
        "lease_owner": job.lease_owner,
        "started_at": ts(job.started_at),
        "created_at": ts(job.created_at),
        "finished_at": ts(job.finished_at),
    }


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
    raw = request.match_info["id"]
    job_id = parse_int(raw)
    if job_id is None:
        raise NotFound(f"job {raw} does not exist")
    return web.json_response(job_json(await retry_dead_job(request.app, job_id)))


async def retry_dead_job(app: web.Application, job_id: int) -> Job:
    """Put a dead job back with a fresh attempt budget and wake the runner; 404 when there
    is no such job, 409 when it is not dead."""
    return await DeadLetters(app[STORE], app[CLOCK], app[RUNNER].wake).retry(job_id)
