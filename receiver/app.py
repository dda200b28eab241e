"""The application factory: wires config, store, services, routes and background tasks."""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from receiver.actions import AlertActions
from receiver.alertmanager import parse_webhook_body
from receiver.alertmanager_api import AlertmanagerClient
from receiver.api import alerts, jobs, openapi, ops, pagerduty, webhook
from receiver.api import runbooks as runbook_api
from receiver.api.abuse import AuthFailures
from receiver.api.auth import TokenAuth, WebhookAuth
from receiver.api.middleware import edge
from receiver.automation.definitions import Runbooks, load_runbooks, silence_api
from receiver.automation.drills import Drills, Inject
from receiver.automation.executor import Executor
from receiver.automation.guards import HttpGuard, ShellPolicy
from receiver.automation.service import AutomationService
from receiver.automation.steps import StepEnvironment, registered_actions
from receiver.breaker import BreakerRegistry, CircuitBreaker
from receiver.config import ChannelConfig, Config
from receiver.errors import StoreUnavailable
from receiver.escalation import Escalation, resolve_job, route_job
from receiver.hostallow import HostAllowList
from receiver.ingest import Ingestor
from receiver.jobs import JobRunner, RunnerSettings
from receiver.metrics import Metrics
from receiver.model import Clock, Notification, system_clock
from receiver.notify.base import Channel
from receiver.notify.email import EmailChannel
from receiver.notify.log import LogChannel
from receiver.notify.pagerduty import PagerDutyChannel
from receiver.notify.webhook import WebhookChannel
from receiver.obs import request_id_var
from receiver.pagerduty_sync import PagerDutySync
from receiver.pipeline import PipelineGuard, fetch_group_job
from receiver.ratelimit import RateLimit, RateLimiters
from receiver.retention import Retention
from receiver.store import Store, create_engine_for, migrate
from receiver.store.ingest import IngestOutcome
from receiver.store.jobs import NewJob
from receiver.typedefs import (
    ACTIONS,
    AUTH_FAILURES,
    AUTOMATION,
    BREAKERS,
    CLOCK,
    CONFIG,
    DRILLS,
    INGESTOR,
    METRICS,
    PAGERDUTY_SYNC,
    PIPELINE,
    RUNNER,
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
    owner: str | None = None,
    runbooks: Runbooks | None = None,
    step_actions: Mapping[str, Callable[..., Any]] | None = None,
) -> web.Application:
    """Build the application; nothing is opened until it starts (see ``cleanup_ctx``).

    ``owner`` names this process in job leases (default: host, pid and a random suffix).
    ``runbooks`` default to the files ``automation.runbooks`` names (read here, so a broken
    runbook stops start-up); ``step_actions`` to the ``firebreak.actions`` entry points.
    """
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
    app[AUTH_FAILURES] = AuthFailures(
        config.api.auth_failure_limit, config.api.auth_failure_window.total_seconds()
    )
    app[STARTED_AT] = clock()
    app[BREAKERS] = BreakerRegistry(_breaker_factory(config))
    app[_OWNER] = owner or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    app[_RUNBOOKS] = runbooks if runbooks is not None else load_runbooks(config)
    app[_STEP_ACTIONS] = dict(step_actions) if step_actions is not None else registered_actions()
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_runner)
    app.cleanup_ctx.append(_ingestor)

    r = app.router
    r.add_post("/webhook", webhook.receive_webhook, name="webhook")
    r.add_get("/api/v1/alerts", alerts.list_alerts, name="alerts")
    r.add_get("/api/v1/alerts/{id}", alerts.get_alert, name="alert")
    r.add_post("/api/v1/alerts/{id}/acknowledge", alerts.acknowledge_alert, name="acknowledge")
    r.add_post("/api/v1/alerts/{id}/resolve", alerts.resolve_alert, name="resolve")
    r.add_post("/api/v1/alerts/{id}/snooze", alerts.snooze_alert, name="snooze")
    r.add_get("/api/v1/jobs", jobs.list_jobs, name="jobs")
    r.add_post("/api/v1/jobs/{id}/retry", jobs.retry_job, name="job_retry")
    r.add_post(
        "/integrations/pagerduty/webhook",
        pagerduty.receive_pagerduty_webhook,
        name="pagerduty_webhook",
    )
    r.add_get("/api/v1/runbooks", runbook_api.list_runbooks, name="runbooks")
    r.add_get("/api/v1/runbooks/{id}", runbook_api.get_runbook, name="runbook")
    r.add_post("/api/v1/runbooks/{id}/execute", runbook_api.execute_runbook, name="runbook_execute")
    r.add_post(
        "/api/v1/runbooks/{id}/reset-breaker", runbook_api.reset_breaker, name="runbook_reset"
    )
    r.add_get("/api/v1/executions", runbook_api.list_executions, name="executions")
    r.add_get("/api/v1/executions/{id}", runbook_api.get_execution, name="execution")
    r.add_post("/api/v1/executions/{id}/cancel", runbook_api.cancel_execution, name="cancel")
    r.add_post("/api/v1/executions/{id}/approve", runbook_api.approve_execution, name="approve")
    r.add_post("/api/v1/executions/{id}/reject", runbook_api.reject_execution, name="reject")
    r.add_post("/api/v1/drills", runbook_api.run_drill, name="drills")
    r.add_get("/api/v1/automation", runbook_api.automation_state, name="automation")
    r.add_post("/api/v1/automation/pause", runbook_api.pause_automation, name="pause")
    r.add_post("/api/v1/automation/resume", runbook_api.resume_automation, name="resume")
    r.add_get("/api/v1/openapi.json", openapi.serve_openapi, name="openapi")
    r.add_get("/health", ops.health, name="health")
    r.add_get("/health/detailed", ops.health_detailed, name="health_detailed")
    r.add_get("/metrics", ops.metrics, name="metrics")
    r.add_get("/debug/circuit-breakers", ops.circuit_breakers, name="circuit_breakers")
    return app


_OWNER = web.AppKey("owner", str)
_HTTP = web.AppKey("http_session", aiohttp.ClientSession)
_RUNBOOKS = web.AppKey("runbooks", Runbooks)
_STEP_ACTIONS: web.AppKey[Mapping[str, Callable[..., Any]]] = web.AppKey("step_actions")


def _breaker_factory(config: Config) -> Any:
    def make(channel: str, _target: str) -> CircuitBreaker:
        settings = config.channels[channel].breaker if channel in config.channels else None
        if settings is None:
            return CircuitBreaker()
        return CircuitBreaker(
            failure_threshold=settings.failure_threshold,
            open_cooldown=settings.open_cooldown.total_seconds(),
            half_open_probe_count=settings.half_open_probe_count,
        )

    return make


def build_channel(
    name: str, channel: ChannelConfig, session: aiohttp.ClientSession, clock: Clock
) -> Channel:
    """The one place channel configuration becomes a channel."""
    if channel.type == "webhook" and channel.webhook is not None:
        hook = channel.webhook
        return WebhookChannel(
            name,
            hook.url,
            session=session,
            secret=hook.secret,
            timeout=hook.timeout.total_seconds(),
            headers=dict(hook.headers),
            clock=clock,
        )
    if channel.type == "email" and channel.email is not None:
        mail = channel.email
        tls_context = None
        if mail.ca_file:
            import ssl

            tls_context = ssl.create_default_context(cafile=mail.ca_file)
        return EmailChannel(
            name,
            host=mail.host,
            port=mail.port,
            starttls=mail.starttls,
            use_tls=mail.use_tls,
            username=mail.username,
            password=mail.password,
            sender=mail.sender,
            default_to=tuple(mail.to),
            timeout=mail.timeout.total_seconds(),
            tls_context=tls_context,
            clock=clock,
        )
    if channel.type == "pagerduty" and channel.pagerduty is not None:
        return PagerDutyChannel(name, channel.pagerduty, clock=clock)
    return LogChannel(name)


async def _store(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine_for(app[CONFIG].database)
    try:
        await migrate(engine)
    except Exception:
        await engine.dispose()
        raise
    store = Store(engine, sqlite_synchronous=app[CONFIG].database.sqlite_synchronous)
    app[STORE] = store
    yield
    await store.close()


async def _runner(app: web.Application) -> AsyncIterator[None]:
    config, clock, metrics = app[CONFIG], app[CLOCK], app[METRICS]
    session = aiohttp.ClientSession()
    app[_HTTP] = session
    channels = {
        name: build_channel(name, channel, session, clock)
        for name, channel in config.channels.items()
    }
    limits = {
        name: RateLimit(channel.rate_limit.per_minute, channel.rate_limit.burst)
        for name, channel in config.channels.items()
    }
    escalation = Escalation(
        config, app[STORE], channels, app[BREAKERS], RateLimiters(limits), metrics
    )
    alertmanager = AlertmanagerClient(config.alertmanager, session) if config.alertmanager else None

    async def submit(notification: Notification) -> None:
        if INGESTOR not in app:
            raise StoreUnavailable("the receiver is starting")  # the job is retried
        await app[INGESTOR].submit(notification, None)

    guard = PipelineGuard(config, app[STORE], metrics, submit, alertmanager, app[STARTED_AT])
    app[PIPELINE] = guard
    retention = Retention(config.retention, app[STORE], metrics)
    automation = config.automation
    http_guard = HttpGuard(HostAllowList(automation.http_allow))
    guarded_http = http_guard.session()
    executor = Executor(
        app[_RUNBOOKS],
        app[STORE],
        metrics,
        StepEnvironment(
            http=session,
            prometheus_url=config.automation.prometheus_url,
            alertmanager_url=silence_api(config),
            actions=app[_STEP_ACTIONS],
            channels=channels,
            http_guard=http_guard,
            guarded_http=guarded_http,
            shell=ShellPolicy(
                automation.shell_allow,
                cpu_seconds=int(automation.shell_limits.cpu_time.total_seconds()),
                address_space_bytes=automation.shell_limits.address_space_bytes,
            ),
        ),
        automatic=config.automation.automatic,
    )
    handlers = {
        **escalation.handlers(),
        **guard.handlers(),
        **retention.handlers(),
        **executor.handlers(),
    }
    # New firing alerts start their runbooks from the route job, ended ones from the resolve.
    handlers["route"] = executor.after(handlers["route"], "firing")
    handlers["resolve"] = executor.after(handlers["resolve"], "resolved")
    jobs_config = config.jobs
    runner = JobRunner(
        app[STORE],
        handlers,
        metrics,
        clock,
        RunnerSettings(
            owner=app[_OWNER],
            workers=jobs_config.workers,
            lease=jobs_config.lease,
            max_attempts=jobs_config.max_attempts,
            backoff_initial=jobs_config.backoff_initial,
            backoff_max=jobs_config.backoff_max,
            poll_interval=jobs_config.poll_interval,
            stop_grace=config.shutdown_grace,
        ),
        horizons=escalation.horizons(),
        busy=lambda: INGESTOR in app and app[INGESTOR].busy,
        run_limit=escalation.run_limit,
    )
    app[RUNNER] = runner
    app[ACTIONS] = AlertActions(app[STORE], metrics, clock, runner.wake)
    app[AUTOMATION] = AutomationService(executor, app[STORE], clock, runner.wake)
    app[DRILLS] = Drills(app[AUTOMATION], app[STORE], clock, _injector(app))
    seeds = guard.seed(clock()) + retention.seed(clock())
    if seeds:
        async with app[STORE].transaction(durable=False) as conn:
            await app[STORE].jobs.enqueue(conn, seeds, clock())
    app[PAGERDUTY_SYNC] = PagerDutySync(app[STORE], app[ACTIONS], metrics)
    runner.start()
    yield
    await runner.stop()
    for channel in channels.values():
        await channel.close()
    await guarded_http.close()
    await session.close()


def _injector(app: web.Application) -> Inject:
    """Drills inject their synthetic webhook where Alertmanager's go: parsed and ingested."""

    async def inject(payload: dict[str, Any]) -> None:
        notification = parse_webhook_body(json.dumps(payload).encode())
        await app[INGESTOR].submit(notification, request_id_var.get())

    return inject


def _outbox(outcome: IngestOutcome, now: datetime, *, fetch_truncated: bool) -> list[NewJob]:
    """The jobs a committed webhook batch starts, in the batch's own transaction."""
    follow = []
    if fetch_truncated:  # Alertmanager's API is configured: read the rest of cut groups
        follow += [fetch_group_job(n, now) for n in outcome.truncated]
    # Split so that one job (and so one run working a backlog off) stays small.
    for chunk in _chunked(outcome.new_alert_ids, _ALERTS_PER_JOB):
        follow.append(route_job(chunk, now))
    for chunk in _chunked(outcome.resolved_alert_ids, _ALERTS_PER_JOB):
        follow.append(resolve_job(chunk, now))
    return follow


_ALERTS_PER_JOB = 250


def _chunked(ids: tuple[int, ...], size: int) -> list[tuple[int, ...]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


async def _ingestor(app: web.Application) -> AsyncIterator[None]:
    ingest = app[CONFIG].ingest
    ingestor = Ingestor(
        app[STORE],
        app[METRICS],
        app[CLOCK],
        max_batch_alerts=ingest.max_batch_alerts,
        commit_delay=ingest.commit_delay.total_seconds(),
        commit_siblings=ingest.commit_siblings,
        outbox=functools.partial(_outbox, fetch_truncated=app[CONFIG].alertmanager is not None),
        on_commit=app[RUNNER].wake,
    )
    ingestor.start()
    app[INGESTOR] = ingestor
    yield
    await ingestor.stop()
