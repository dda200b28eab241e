"""Health: the ``/health/detailed`` checks, circuit breakers, the job queue, and dead letters
with the retry button (admin, as ``POST /api/v1/jobs/{id}/retry``)."""

from __future__ import annotations

from aiohttp import web

from receiver.console.access import Form, action, page
from receiver.console.render import redirect, render
from receiver.console.session import Session
from receiver.errors import NotFound, StoreUnavailable
from receiver.model import Role, parse_id
from receiver.typedefs import AUTOMATION, STORE
from receiver.web.ops import health_checks, retry_dead_job

_DEAD_SHOWN = 50


@page(Role.VIEWER)
async def health_page(request: web.Request, session: Session) -> web.StreamResponse:
    healthy, checks = await health_checks(request.app)
    store = request.app[STORE]
    queue: list[tuple[str, str, int]] = []
    dead = []
    automation = None
    if healthy:  # the database answers: the queue can be read
        try:
            async with store.connection() as conn:
                queue = sorted((await store.jobs.stats(conn))["counts"])
                dead = await store.jobs.list_jobs(conn, "dead", None, _DEAD_SHOWN, None)
            automation = await request.app[AUTOMATION].automation_state()
        except StoreUnavailable:
            healthy = False
    return render(
        request,
        "health.html",
        session,
        healthy=healthy,
        checks=checks,
        queue=[row for row in queue if row[1] != "done"],
        dead=dead,
        automation=automation,
    )


@action(Role.ADMIN)
async def retry_job(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    raw = request.match_info["id"]
    job_id = parse_id(raw)
    if job_id is None:
        raise NotFound(f"job {raw} does not exist")
    await retry_dead_job(request.app, job_id)
    return redirect(str(request.app.router["console_health"].url_for()))
