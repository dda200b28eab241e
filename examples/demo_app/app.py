"""The demo service: an item API, a work queue, and admin endpoints to break and heal it.

Faults and their remedies, as a runbook would apply them:

- ``errors`` (a share of item requests answer 500) — cured by a restart;
- ``latency`` (item requests are slowed by a poisoned cache) — cured by clearing the cache,
  or by a restart;
- ``queue`` (the consumer is stuck, so the queue only grows) — cured by restarting the
  consumer (``POST /admin/queue/consumer/restart``), or by a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from examples.demo_app.load import generate_load
from examples.demo_app.metrics import DemoMetrics

MAX_LATENCY_SECONDS = 10.0  # a slow-response fault longer than this only ties up the load loop
DEFAULT_ERROR_RATIO = 0.5
DEFAULT_LATENCY_SECONDS = 0.5
QUEUE_TICK_SECONDS = 0.1


class Fault(StrEnum):
    """What ``/admin/fault/{kind}`` can inject."""

    ERRORS = "errors"
    LATENCY = "latency"
    QUEUE = "queue"


class BadRequest(ValueError):
    """A request the admin endpoints cannot act on; its message says what was expected."""


@dataclass(frozen=True)
class DemoSettings:
    """How the service runs. ``self_url`` is where the load generator finds the service."""

    load_rate: float = 0.0  # item requests a second the service sends itself; 0: none
    self_url: str | None = None
    admin_token: str | None = None  # when set, /admin/* needs "Authorization: Bearer <token>"
    drain_per_second: float = 20.0  # jobs the queue consumer finishes a second


@dataclass
class DemoState:
    """The live state the handlers share: active faults, the queue and the cache."""

    metrics: DemoMetrics
    error_ratio: float | None = None
    extra_latency: float | None = None
    queue_stuck: bool = False
    queue: deque[int] = field(default_factory=deque)
    cache: dict[str, str] = field(default_factory=dict)
    next_job: int = 0

    def __post_init__(self) -> None:
        self.metrics.watch(lambda: len(self.queue), lambda: len(self.cache))

    def inject(self, fault: Fault, params: dict[str, Any]) -> None:
        if fault is Fault.ERRORS:
            self.error_ratio = _number(params, "ratio", DEFAULT_ERROR_RATIO, 0.0, 1.0)
        elif fault is Fault.LATENCY:
            self.extra_latency = _number(
                params, "seconds", DEFAULT_LATENCY_SECONDS, 0.0, MAX_LATENCY_SECONDS
            )
        else:
            self.queue_stuck = True
        self.metrics.fault_active.labels(fault.value).set(1)

    def clear(self, fault: Fault) -> None:
        if fault is Fault.ERRORS:
            self.error_ratio = None
        elif fault is Fault.LATENCY:
            self.extra_latency = None
        else:
            self.queue_stuck = False
        self.metrics.fault_active.labels(fault.value).set(0)

    def clear_cache(self) -> None:
        """Empty the cache; the slow-response fault lives in it, so it goes too."""
        self.cache.clear()
        self.clear(Fault.LATENCY)
        self.metrics.cache_clears.inc()

    def restart_consumer(self) -> None:
        """Start the queue consumer afresh: a stuck one drains again; the queue, the cache and
        the other faults stay as they are."""
        self.clear(Fault.QUEUE)

    def restart(self) -> None:
        """What a process restart does: every in-memory fault and the cache are gone, the
        consumer starts afresh. Queued jobs survive, as they would in a durable queue."""
        for fault in Fault:
            self.clear(fault)
        self.cache.clear()
        self.metrics.restarts.inc()

    def enqueue(self) -> int:
        self.next_job += 1
        self.queue.append(self.next_job)
        return len(self.queue)

    def drain(self, budget: int) -> int:
        """Finish up to ``budget`` queued jobs, unless the consumer is stuck."""
        if self.queue_stuck:
            return 0
        done = min(budget, len(self.queue))
        for _ in range(done):
            self.queue.popleft()
        self.metrics.jobs_processed.inc(done)
        return done

    def snapshot(self) -> dict[str, Any]:
        return {
            "faults": {
                Fault.ERRORS.value: (
                    None if self.error_ratio is None else {"ratio": self.error_ratio}
                ),
                Fault.LATENCY.value: (
                    None if self.extra_latency is None else {"seconds": self.extra_latency}
                ),
                Fault.QUEUE.value: {"stuck": True} if self.queue_stuck else None,
            },
            "queue_depth": len(self.queue),
            "cache_entries": len(self.cache),
        }


def _number(params: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise BadRequest(f"{key}: expected a number above {low:g} and at most {high:g}")
    return float(value)


STATE = web.AppKey("state", DemoState)
SETTINGS = web.AppKey("settings", DemoSettings)
RANDOM: web.AppKey[Callable[[], float]] = web.AppKey("random")


# --- middleware ---------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every answer by route; errors become one JSON shape."""
    started = time.perf_counter()
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = web.json_response({"status": "error", "error": exc.reason}, status=exc.status)
    except BadRequest as exc:
        response = web.json_response({"status": "error", "error": str(exc)}, status=400)
    metrics = request.app[STATE].metrics
    metrics.requests.labels(route_name, request.method, str(response.status)).inc()
    metrics.duration.labels(route_name).observe(time.perf_counter() - started)
    return response


def _authorise(request: web.Request) -> None:
    token = request.app[SETTINGS].admin_token
    if token is None:
        return
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise web.HTTPUnauthorized(reason="admin endpoints need the admin bearer token")


def _fault(request: web.Request) -> Fault:
    try:
        return Fault(request.match_info["kind"])
    except ValueError:
        kinds = ", ".join(f.value for f in Fault)
        raise web.HTTPNotFound(reason=f"no such fault; expected one of {kinds}") from None


# --- handlers -----------------------------------------------------------------------------------


async def get_item(request: web.Request) -> web.Response:
    """The user-facing request: read an item through the cache."""
    state = request.app[STATE]
    item = request.match_info["item"]
    if state.extra_latency is not None:
        await asyncio.sleep(state.extra_latency)
    if state.error_ratio is not None and request.app[RANDOM]() < state.error_ratio:
        return web.json_response({"status": "error", "error": "injected failure"}, status=500)
    value = state.cache.setdefault(item, f"item {item}")
    return web.json_response({"item": item, "value": value})


async def post_job(request: web.Request) -> web.Response:
    depth = request.app[STATE].enqueue()
    return web.json_response({"queued": depth}, status=202)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[STATE].metrics.registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def get_faults(request: web.Request) -> web.Response:
    _authorise(request)
    return web.json_response(request.app[STATE].snapshot())


async def inject_fault(request: web.Request) -> web.Response:
    _authorise(request)
    fault = _fault(request)
    try:
        params: Any = await request.json() if request.can_read_body else {}
    except ValueError:
        raise BadRequest("the body must be JSON") from None
    if not isinstance(params, dict):
        raise BadRequest("the body must be a JSON object")
    state = request.app[STATE]
    state.inject(fault, params)
    return web.json_response(state.snapshot())


async def clear_fault(request: web.Request) -> web.Response:
    _authorise(request)
    state = request.app[STATE]
    state.clear(_fault(request))
    return web.json_response(state.snapshot())


async def restart(request: web.Request) -> web.Response:
    _authorise(request)
    state = request.app[STATE]
    state.restart()
    return web.json_response(state.snapshot())


async def restart_consumer(request: web.Request) -> web.Response:
    _authorise(request)
    state = request.app[STATE]
    state.restart_consumer()
    return web.json_response(state.snapshot())


async def clear_cache(request: web.Request) -> web.Response:
    _authorise(request)
    state = request.app[STATE]
    state.clear_cache()
    return web.json_response(state.snapshot())


# --- background work ----------------------------------------------------------------------------


async def _consume(state: DemoState, per_second: float) -> None:
    credit = 0.0
    while True:
        await asyncio.sleep(QUEUE_TICK_SECONDS)
        credit = min(credit + per_second * QUEUE_TICK_SECONDS, per_second)
        credit -= state.drain(int(credit))


async def background(app: web.Application) -> AsyncIterator[None]:
    """The queue consumer and, when configured, the load generator."""
    settings = app[SETTINGS]
    tasks = [asyncio.create_task(_consume(app[STATE], settings.drain_per_second))]
    session: ClientSession | None = None
    if settings.load_rate > 0 and settings.self_url:
        session = ClientSession(timeout=ClientTimeout(total=MAX_LATENCY_SECONDS + 5))
        tasks.append(
            asyncio.create_task(
                generate_load(session, settings.self_url, settings.load_rate, app[RANDOM])
            )
        )
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if session is not None:
        await session.close()


def create_app(
    settings: DemoSettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    rng: Callable[[], float] = random.random,
) -> web.Application:
    """The demo service; nothing runs until the application starts."""
    app = web.Application(middlewares=[observe])
    app[SETTINGS] = settings or DemoSettings()
    app[STATE] = DemoState(DemoMetrics(registry or CollectorRegistry()))
    app[RANDOM] = rng
    app.add_routes(
        [
            web.get("/api/items/{item}", get_item),
            web.post("/api/jobs", post_job),
            web.get("/health", health),
            web.get("/metrics", metrics),
            web.get("/admin/faults", get_faults),
            web.post("/admin/fault/{kind}", inject_fault),
            web.delete("/admin/fault/{kind}", clear_fault),
            web.post("/admin/restart", restart),
            web.post("/admin/cache/clear", clear_cache),
            web.post("/admin/queue/consumer/restart", restart_consumer),
        ]
    )
    app.cleanup_ctx.append(background)
    return app
