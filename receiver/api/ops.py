"""Operations endpoints: liveness, detailed health, Prometheus metrics."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from receiver import __version__
from receiver.alertmanager import format_rfc3339
from receiver.errors import StoreUnavailable
from receiver.model import Role
from receiver.typedefs import CLOCK, METRICS, STARTED_AT, STORE, TOKEN_AUTH


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers. Deliberately touches nothing else."""
    uptime = (request.app[CLOCK]() - request.app[STARTED_AT]).total_seconds()
    return web.json_response(
        {"status": "ok", "version": __version__, "uptime_seconds": round(uptime, 3)}
    )


async def health_detailed(request: web.Request) -> web.Response:
    """Each dependency's state; 503 when one the receiver cannot work without is down."""
    request.app[TOKEN_AUTH].require(request.headers, Role.VIEWER)
    store = request.app[STORE]
    now = request.app[CLOCK]()
    checks: dict[str, dict[str, Any]] = {}
    healthy = True
    try:
        latency = await store.ping()
        checks["database"] = {
            "status": "ok",
            "latency_ms": round(latency * 1000, 3),
            "dialect": store.dialect,
        }
        last = await store.last_webhook_at()
        checks["webhooks"] = {
            "status": "ok",
            "last_received_at": format_rfc3339(last) if last else None,
            "age_seconds": round((now - last).total_seconds(), 3) if last else None,
        }
    except StoreUnavailable as exc:
        healthy = False
        checks["database"] = {"status": "fail", "error": str(exc)}
    uptime = (now - request.app[STARTED_AT]).total_seconds()
    return web.json_response(
        {
            "status": "ok" if healthy else "fail",
            "version": __version__,
            "uptime_seconds": round(uptime, 3),
            "checks": checks,
        },
        status=200 if healthy else 503,
    )


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
    body = generate_latest(registry.registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
