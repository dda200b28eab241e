"""Operations endpoints: liveness, detailed health, Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from receiver import __version__
from receiver.api import runbooks
from receiver.errors import StoreUnavailable
from receiver.model import Role
from receiver.obs import request_id_var
from receiver.typedefs import (
    BREAKERS,
    CLOCK,
    METRICS,
    RELOAD,
    STARTED_AT,
    STORE,
    TOKEN_AUTH,
)
from receiver.web.middleware import error_response
from receiver.web.ops import health_checks


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers. Deliberately touches nothing else."""
    uptime = (request.app[CLOCK]() - request.app[STARTED_AT]).total_seconds()
    return web.json_response(
        {"status": "ok", "version": __version__, "uptime_seconds": round(uptime, 3)}
    )


async def health_detailed(request: web.Request) -> web.Response:
    """Each dependency's state; 503 when one the receiver cannot work without is down."""
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    healthy, checks = await health_checks(request.app)
    uptime = (request.app[CLOCK]() - request.app[STARTED_AT]).total_seconds()
    return web.json_response(
        {
            "status": "ok" if healthy else "fail",
            "version": __version__,
            "uptime_seconds": round(uptime, 3),
            "checks": checks,
        },
        status=200 if healthy else 503,
    )


async def circuit_breakers(request: web.Request) -> web.Response:
    """Every circuit breaker's state, per channel and target."""
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    return web.json_response({"breakers": request.app[BREAKERS].snapshot()})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition; the firing-alerts gauge is recounted from the store per scrape."""
    registry = request.app[METRICS]
    try:
        counts = await request.app[STORE].count_firing_by_severity()
    except StoreUnavailable:
        registry.store_errors.labels("count_firing").inc()
    else:
        registry.active_alerts.clear()
        for severity, count in counts.items():
            registry.active_alerts.labels(severity).set(count)
    await _refresh_queue_gauges(request)
    await runbooks.refresh_gauges(request.app)
    body = generate_latest(registry.registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


async def _refresh_queue_gauges(request: web.Request) -> None:
    """Job queue depth and age, and breaker states, as of this scrape."""
    metrics, store = request.app[METRICS], request.app[STORE]
    try:
        async with store.connection() as conn:
            stats = await store.jobs.stats(conn)
    except StoreUnavailable:
        metrics.store_errors.labels("job_stats").inc()
        return
    metrics.jobs_queued.clear()
    for kind, state, count in stats["counts"]:
        metrics.jobs_queued.labels(kind, state).set(count)
    oldest = stats["oldest_due_at"]
    now = request.app[CLOCK]()
    metrics.jobs_oldest_due_age.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0)
    metrics.breaker_state.clear()
    for breaker in request.app[BREAKERS].snapshot():
        value = _BREAKER_VALUE.get(str(breaker["state"]).lower(), 0)
        metrics.breaker_state.labels(breaker["channel"], breaker["target"]).set(value)


async def reload(request: web.Request) -> web.Response:
    """POST /-/reload (admin): read the configuration and runbooks again; 200 when they are in
    force, 400 with every problem when refused (the old configuration stays)."""
    request.app[TOKEN_AUTH].require(request.headers, Role.ADMIN)
    result = await request.app[RELOAD]()
    if not result.ok:
        return error_response(
            400,
            "the new configuration is invalid; the old one stays in force",
            request_id_var.get() or "",
            problems=list(result.problems),
        )
    return web.json_response({"status": "success", "restart_needed": list(result.restart_needed)})
