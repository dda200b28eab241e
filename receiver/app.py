"""The application factory: wires config, store, services, routes and background tasks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from receiver.api import alerts, ops, webhook
from receiver.api.auth import TokenAuth, WebhookAuth
from receiver.api.middleware import edge
from receiver.config import Config
from receiver.ingest import Ingestor
from receiver.metrics import Metrics
from receiver.model import Clock, system_clock
from receiver.store import Store, create_engine_for, migrate
from receiver.typedefs import (
    CLOCK,
    CONFIG,
    INGESTOR,
    METRICS,
    STARTED_AT,
    STORE,
    TOKEN_AUTH,
    WEBHOOK_AUTH,
)

log = logging.getLogger("firebreak.app")


def create_app(
    config: Config,
    *,
    clock: Clock = system_clock,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """Build the application; nothing is opened until it starts (see ``cleanup_ctx``)."""
    app = web.Application(
        middlewares=[edge],
        # Bodies are read with per-route limits (webhook.max_body_bytes); this is the backstop.
        client_max_size=max(config.webhook.max_body_bytes, 1024 * 1024),
    )
    app[CONFIG] = config
    app[CLOCK] = clock
    app[METRICS] = Metrics(registry if registry is not None else CollectorRegistry())
    app[TOKEN_AUTH] = TokenAuth(config.api.tokens)
    app[WEBHOOK_AUTH] = WebhookAuth(config.webhook.auth)
    app[STARTED_AT] = clock()
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_ingestor)

    r = app.router
    r.add_post("/webhook", webhook.receive_webhook, name="webhook")
    r.add_get("/api/v1/alerts", alerts.list_alerts, name="alerts")
    r.add_get("/api/v1/alerts/{id}", alerts.get_alert, name="alert")
    r.add_post("/api/v1/alerts/{id}/acknowledge", alerts.acknowledge_alert, name="acknowledge")
    r.add_post("/api/v1/alerts/{id}/resolve", alerts.resolve_alert, name="resolve")
    r.add_get("/health", ops.health, name="health")
    r.add_get("/health/detailed", ops.health_detailed, name="health_detailed")
    r.add_get("/metrics", ops.metrics, name="metrics")
    return app


async def _store(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine_for(app[CONFIG].database)
    try:
        await migrate(engine)
    except Exception:
        await engine.dispose()
        raise
    store = Store(engine)
    app[STORE] = store
    yield
    await store.close()


async def _ingestor(app: web.Application) -> AsyncIterator[None]:
    ingestor = Ingestor(
        app[STORE],
        app[METRICS],
        app[CLOCK],
        max_batch_alerts=app[CONFIG].ingest.max_batch_alerts,
        commit_delay=app[CONFIG].ingest.commit_delay.total_seconds(),
        commit_siblings=app[CONFIG].ingest.commit_siblings,
    )
    ingestor.start()
    app[INGESTOR] = ingestor
    yield
    await ingestor.stop()
