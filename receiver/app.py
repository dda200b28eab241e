"""The application factory: a short list of ``setup_*`` calls that wire config, store,
services, routes and background tasks (the services themselves are built in
``receiver/services.py``, the routes listed in ``receiver/routes.py``)."""

from __future__ import annotations

import functools
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from receiver.access.abuse import AuthFailures
from receiver.access.auth import TokenAuth, WebhookAuth
from receiver.access.connections import ConnectionCap
from receiver.addresses import TrustedProxies
from receiver.alertmanager_api import AlertmanagerClient
from receiver.api.server import handler_args
from receiver.audit import Audit
from receiver.automation.definitions import Runbooks, load_runbooks
from receiver.automation.mode import announce
from receiver.automation.steps import registered_actions
from receiver.breaker import BreakerRegistry
from receiver.channels import breaker_factory, slack_client
from receiver.chatops import ChatOps
from receiver.clock_skew import ClockSkew
from receiver.config import AlertmanagerConfig, Config
from receiver.console.routes import setup_console
from receiver.gauges import setup_gauges
from receiver.ingest import Ingestor, outbox
from receiver.jobs import JobRunner, RunnerSettings
from receiver.manual_pages import ManualPages
from receiver.metrics import Metrics
from receiver.model import Clock, ReloadResult, system_clock
from receiver.pagerduty_sync import PagerDutySync
from receiver.reload import drills_for, reload_config, services_for
from receiver.routes import setup_routes
from receiver.services import Lasting, alert_actions
from receiver.slack.bolt import build_bolt_app
from receiver.slack.commands import SlackCommands
from receiver.slack.roles import SlackRoles
from receiver.store import Store, create_engine_for, migrate
from receiver.tracing import Tracing
from receiver.typedefs import (
    ACTIONS,
    AUDIT,
    AUTH_FAILURES,
    AUTOMATION,
    BREAKERS,
    BUILT,
    CLOCK,
    CLOCK_SKEW,
    CONFIG,
    CONFIG_PATH,
    CONNECTION_CAP,
    DRILLS,
    HTTP,
    INGESTOR,
    LASTING,
    MANUAL_PAGES,
    METRICS,
    MONOTONIC,
    OWNER,
    PAGERDUTY_SYNC,
    PIPELINE,
    RELOAD,
    RUNBOOKS,
    RUNNER,
    SLACK_BOLT,
    SLACK_CLIENT,
    STARTED_AT,
    STEP_ACTIONS,
    STORE,
    TOKEN_AUTH,
    TRACING,
    TRUSTED_PROXIES,
    WEBHOOK_AUTH,
)
from receiver.web.middleware import edge


def create_app(
    config: Config,
    *,
    clock: Clock = system_clock,
    monotonic: Callable[[], float] = time.monotonic,
    registry: CollectorRegistry | None = None,
    owner: str | None = None,
    tracing: Tracing | None = None,
    config_path: str | None = None,
    runbooks: Runbooks | None = None,
    step_actions: Mapping[str, Callable[..., Any]] | None = None,
) -> web.Application:
    """Build the application; nothing is opened until it starts (see ``cleanup_ctx``).

    ``owner`` names this process in job leases (default: host, pid and a random suffix).
    ``monotonic`` is what circuit breakers and rate limiters count their seconds by.
    ``runbooks`` default to the files ``automation.runbooks`` names (read here, so a broken
    runbook stops start-up); ``step_actions`` to the ``firebreak.actions`` entry points.
    """
    app = web.Application(
        middlewares=[edge],
        # Bodies are read with per-route limits (webhook.max_body_bytes); this is the backstop.
        client_max_size=max(config.webhook.max_body_bytes, 1024 * 1024),
        handler_args=handler_args(config),
    )
    setup_state(app, config, clock, registry, tracing, config_path, monotonic)
    setup_access(app, config)
    setup_automation(app, config, owner, runbooks, step_actions)
    setup_lifetimes(app, config)
    setup_gauges(app)
    setup_routes(app, config)
    setup_console(app)
    return app


def setup_state(
    app: web.Application,
    config: Config,
    clock: Clock,
    registry: CollectorRegistry | None,
    tracing: Tracing | None,
    config_path: str | None,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """The configuration in force (and how to reload it), the clocks, metrics and tracing."""
    app[CONFIG] = config
    app[CONFIG_PATH] = config_path or ""  # what /-/reload and SIGHUP read again

    async def reload() -> ReloadResult:
        return await reload_config(app)

    app[RELOAD] = reload
    app[CLOCK] = clock
    app[STARTED_AT] = clock()
    app[TRACING] = tracing if tracing is not None else Tracing.from_config(config.tracing)
    app[METRICS] = Metrics(registry if registry is not None else CollectorRegistry())
    app[CLOCK_SKEW] = ClockSkew(app[METRICS])  # kept across reloads
    app[MONOTONIC] = monotonic
    app[BREAKERS] = BreakerRegistry(breaker_factory(config, monotonic))


def setup_access(app: web.Application, config: Config) -> None:
    """Who may call: tokens, webhook credentials, trusted proxies, the connection cap and the
    lockout after repeated failures. A reload replaces their settings in place."""
    app[TOKEN_AUTH] = TokenAuth(config.api.tokens)
    app[WEBHOOK_AUTH] = WebhookAuth(config.webhook.auth)
    app[TRUSTED_PROXIES] = TrustedProxies(config.api.trusted_proxies)
    app[CONNECTION_CAP] = ConnectionCap(config, app[METRICS])  # firebreak serve applies it
    app[AUTH_FAILURES] = AuthFailures(
        config.api.auth_failure_limit,
        config.api.auth_failure_window.total_seconds(),
        monotonic=app[MONOTONIC],
    )


def setup_automation(
    app: web.Application,
    config: Config,
    owner: str | None,
    runbooks: Runbooks | None,
    step_actions: Mapping[str, Callable[..., Any]] | None,
) -> None:
    """This process's name in job leases, the runbooks and the step actions."""
    app[OWNER] = owner or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    app[RUNBOOKS] = runbooks if runbooks is not None else load_runbooks(config)
    app[STEP_ACTIONS] = dict(step_actions) if step_actions is not None else registered_actions()


def setup_lifetimes(app: web.Application, config: Config) -> None:
    """What opens at start and closes at the end, in this order: the store, the job runner
    over the services, the ingestor, and Slack's commands (when ``slack`` is configured)."""
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_runner)
    app.cleanup_ctx.append(_ingestor)
    if config.slack is not None:
        app.cleanup_ctx.append(_slack)


async def _store(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine_for(app[CONFIG].database)
    try:
        await migrate(engine)
    except Exception:
        await engine.dispose()
        raise
    store = Store(engine, sqlite_synchronous=app[CONFIG].database.sqlite_synchronous)
    app[STORE] = store
    app[AUDIT] = Audit(store, app[CLOCK])
    yield
    await store.close()


async def _runner(app: web.Application) -> AsyncIterator[None]:
    config, clock, metrics = app[CONFIG], app[CLOCK], app[METRICS]
    session = aiohttp.ClientSession()
    app[HTTP] = session
    client = None
    if config.slack is not None:  # made once: the slack section takes effect at a restart
        client = app[SLACK_CLIENT] = slack_client(config.slack, session)
    app[LASTING] = Lasting(
        app[BREAKERS],
        app[CLOCK_SKEW],
        app[STARTED_AT],
        app[STEP_ACTIONS],
        slack=config.slack,
        slack_client=client,
        monotonic=app[MONOTONIC],
    )
    built = services_for(app, config, app[RUNBOOKS])
    app[BUILT] = [built]
    announce(config.automation, app[RUNBOOKS])  # whether alerts will make runbooks act
    app[PIPELINE] = built.guard
    jobs_config = config.jobs
    runner = JobRunner(
        app[STORE],
        built.handlers,
        metrics,
        clock,
        RunnerSettings(
            owner=app[OWNER],
            workers=jobs_config.workers,
            lease=jobs_config.lease,
            max_attempts=jobs_config.max_attempts,
            backoff_initial=jobs_config.backoff_initial,
            backoff_max=jobs_config.backoff_max,
            poll_interval=jobs_config.poll_interval,
            stop_grace=config.shutdown_grace,
        ),
        horizons=built.escalation.horizons(),
        preloads=built.preloads,
        inline=built.escalation.inline(),
        give_way=functools.partial(_let_webhooks_through, app),
        run_limit=built.escalation.run_limit,
        tracing=app[TRACING],
    )
    app[RUNNER] = runner
    app[ACTIONS] = alert_actions(config, app[STORE], metrics, clock, runner.wake)
    app[AUTOMATION] = built.automation
    app[DRILLS] = drills_for(app, built)
    await built.seed(app[STORE], clock())
    app[PAGERDUTY_SYNC] = PagerDutySync(
        app[STORE], app[ACTIONS], metrics, clock, lambda: app[CONFIG]
    )
    runner.start()
    yield
    await runner.stop()
    app[TRACING].shutdown()  # flush the spans still buffered
    for each in app[BUILT]:  # the channels of every configuration loaded, reloads included
        await each.close()
    await session.close()


def _alertmanager_in_force(app: web.Application) -> Callable[[], AlertmanagerClient | None]:
    """The Alertmanager client of the configuration in force, made again when a reload changes
    the ``alertmanager`` section (None without one)."""
    made: list[tuple[AlertmanagerConfig | None, AlertmanagerClient | None]] = []

    def client() -> AlertmanagerClient | None:
        section = app[CONFIG].alertmanager
        if not made or made[0][0] is not section:
            made[:] = [(section, AlertmanagerClient(section, app[HTTP]) if section else None)]
        return made[0][1]

    return client


async def _slack(app: web.Application) -> AsyncIterator[None]:
    """The slash command and buttons, over the services the runner context made."""
    config = app[CONFIG]
    slack = config.slack
    assert slack is not None
    client = app[SLACK_CLIENT]
    commands = SlackCommands(
        config,
        app[ACTIONS],
        ChatOps(app[STORE], app[CLOCK], _alertmanager_in_force(app)),
        SlackRoles(slack, client, app[MONOTONIC]),
        app[METRICS],
        # The lambdas read what a reload replaces: the services and configuration in force.
        lambda: app[AUTOMATION],
        app[AUDIT],
        lambda: app[BUILT][-1].schedules,
        app[MANUAL_PAGES],
        lambda: app[BUILT][-1].maintenance,
        lambda: app[CONFIG],
    )
    app[SLACK_BOLT] = build_bolt_app(slack, client, commands)
    yield


async def _let_webhooks_through(app: web.Application) -> None:
    """The job runner's turns wait while the ingest asks webhooks to go first."""
    if INGESTOR in app:
        await app[INGESTOR].let_through()


async def _ingestor(app: web.Application) -> AsyncIterator[None]:
    ingest = app[CONFIG].ingest
    ingestor = Ingestor(
        app[STORE],
        app[METRICS],
        app[CLOCK],
        max_batch_alerts=ingest.max_batch_alerts,
        commit_delay=ingest.commit_delay.total_seconds(),
        commit_siblings=ingest.commit_siblings,
        outbox=functools.partial(outbox, fetch_truncated=app[CONFIG].alertmanager is not None),
        on_commit=app[RUNNER].wake,
        traced=app[TRACING].enabled,
    )
    ingestor.start()
    app[INGESTOR] = ingestor
    app[MANUAL_PAGES] = ManualPages(lambda: app[CONFIG], app[STORE], ingestor.submit, app[CLOCK])
    yield
    await ingestor.stop()
