"""Operations endpoints: liveness, detailed health, Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from receiver import __version__
from receiver.gauges import GAUGES
from receiver.model import Role
from receiver.obs import request_id_var
from receiver.typedefs import (
    BREAKERS,
    CLOCK,
    METRICS,
    RELOAD,
    STARTED_AT,
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


async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus exposition through client_python's handler: the store's counts from the
    snapshot ``receiver/gauges.py`` keeps, breaker states as of this scrape."""
    app = request.app
    await app[GAUGES].fresh()
    app[METRICS].breaker_state.clear()
    for breaker in app[BREAKERS].snapshot():
        value = _BREAKER_VALUE.get(str(breaker["state"]).lower(), 0)
        app[METRICS].breaker_state.labels(breaker["channel"], breaker["target"]).set(value)
    return await make_aiohttp_handler(app[METRICS].registry)(request)


_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


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
