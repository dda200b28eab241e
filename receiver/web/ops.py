"""Operations the API and the console both offer: the health checks and a dead job's retry."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.alertmanager import format_rfc3339
from receiver.deadletters import DeadLetters
from receiver.errors import StoreUnavailable
from receiver.model import Job
from receiver.typedefs import BREAKERS, BUILT, CLOCK, CLOCK_SKEW, RUNNER, STORE


async def health_checks(app: web.Application) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Whether the receiver can work, and each check: database, webhooks, replica, jobs,
    watchdog (when configured), calendars (when a schedule has one), clock (alerts from the
    future) and circuit breakers."""
    store = app[STORE]
    now = app[CLOCK]()
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
        owner = app[RUNNER].owner
        async with store.connection() as conn:
            stats = await store.jobs.stats(conn)
            leases = await store.jobs.leases_held(conn, owner)
        checks["replica"] = {"status": "ok", "id": owner, "leases": leases}
        dead = sum(c for _k, state, c in stats["counts"] if state == "dead")
        pending = sum(c for _k, state, c in stats["counts"] if state == "pending")
        oldest = stats["oldest_due_at"]
        checks["jobs"] = {
            "status": "ok" if dead == 0 else "degraded",
            "pending": pending,
            "dead": dead,
            "oldest_due_age_seconds": round(max(0.0, (now - oldest).total_seconds()), 3)
            if oldest
            else 0.0,
        }
        watchdog = await app[BUILT][-1].heartbeats.watchdog_status(now)
        if watchdog is not None:
            last_seen = watchdog["last_seen_at"]
            watchdog["last_seen_at"] = format_rfc3339(last_seen) if last_seen else None
            checks["watchdog"] = watchdog
    except StoreUnavailable as exc:
        healthy = False
        checks["database"] = {"status": "fail", "error": str(exc)}
    calendars = app[BUILT][-1].schedules.calendars.status() if BUILT in app else None
    if calendars is not None:  # a failed fetch keeps the last good copy, and says so here
        checks["calendars"] = calendars
    checks["clock"] = app[CLOCK_SKEW].check(now)
    breakers = app[BREAKERS].snapshot()
    checks["circuit_breakers"] = {
        "status": "degraded" if any(b["state"] != "closed" for b in breakers) else "ok",
        "breakers": breakers,
    }
    return healthy, checks


async def retry_dead_job(app: web.Application, job_id: int) -> Job:
    """Put a dead job back with a fresh attempt budget and wake the runner; 404 when there
    is no such job, 409 when it is not dead."""
    return await DeadLetters(app[STORE], app[CLOCK], app[RUNNER].wake).retry(job_id)
