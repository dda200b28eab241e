"""The application factory: wires config, store, services, routes and background tasks."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
import secrets
import socket
import warnings
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from receiver.actions import AlertActions
from receiver.addresses import TrustedProxies
from receiver.alertmanager import parse_webhook_body
from receiver.alertmanager_api import AlertmanagerClient
from receiver.api import alerts, jobs, openapi, ops, pagerduty, webhook
from receiver.api import audit as audit_api
from receiver.api import reports as reports_api
from receiver.api import runbooks as runbook_api
from receiver.api.abuse import AuthFailures
from receiver.api.auth import TokenAuth, WebhookAuth
from receiver.api.connections import ConnectionCap
from receiver.api.middleware import edge
from receiver.api.server import handler_args
from receiver.audit import Audit
from receiver.automation.definitions import Runbooks, load_runbooks, silence_api
from receiver.automation.drills import Drills, Inject
from receiver.automation.executor import Executor
from receiver.automation.guards import HttpGuard, ShellPolicy
from receiver.automation.mode import announce, mode_line
from receiver.automation.redaction import Redactor, configured_secrets
from receiver.automation.service import AutomationService
from receiver.automation.steps import StepEnvironment, registered_actions
from receiver.breaker import BreakerRegistry, CircuitBreaker
from receiver.chatops import ChatOps
from receiver.clock_skew import ClockSkew
from receiver.config import ChannelConfig, Config, load_config
from receiver.console.routes import setup_console
from receiver.deadletters import DeadLetters
from receiver.errors import ConfigError, StoreUnavailable
from receiver.escalation import Escalation
from receiver.grafana import Annotator
from receiver.hostallow import HostAllowList
from receiver.ingest import Ingestor, outbox
from receiver.jobs import Handler, JobRunner, RunnerSettings
from receiver.metrics import Metrics
from receiver.model import Clock, Notification, ReloadResult, system_clock
from receiver.notify.base import Channel
from receiver.notify.email import EmailChannel
from receiver.notify.log import LogChannel
from receiver.notify.pagerduty import PagerDutyChannel
from receiver.notify.slack import Pacer, SlackChannel
from receiver.notify.slack.blocks import MessageView
from receiver.notify.webhook import WebhookChannel
from receiver.obs import request_id_var
from receiver.pagerduty_sync import PagerDutySync
from receiver.people import People
from receiver.pipeline import PipelineGuard
from receiver.ratelimit import RateLimit, RateLimiters
from receiver.reactions import Reaction, Reactions
from receiver.retention import Retention
from receiver.routing import Router
from receiver.slack.bolt import build_bolt_app, slack_events
from receiver.slack.commands import SlackCommands
from receiver.slack.roles import SlackRoles
from receiver.slack_messages import (
    MessageUpdates,
    alert_follow_ups,
    progress_hook,
    reference_lookup,
    runbook_offers,
    state_lookup,
)
from receiver.store import Store, create_engine_for, migrate
from receiver.tracing import Tracing
from receiver.typedefs import (
    ACTIONS,
    AUDIT,
    AUTH_FAILURES,
    AUTOMATION,
    BREAKERS,
    CLOCK,
    CLOCK_SKEW,
    CONFIG,
    CONNECTION_CAP,
    DRILLS,
    INGESTOR,
    METRICS,
    PAGERDUTY_SYNC,
    PIPELINE,
    RELOAD,
    RUNNER,
    SLACK_BOLT,
    SLACK_CLIENT,
    STARTED_AT,
    STORE,
    TOKEN_AUTH,
    TRACING,
    TRUSTED_PROXIES,
    WEBHOOK_AUTH,
)

log = logging.getLogger("firebreak.app")


def create_app(
    config: Config,
    *,
    clock: Clock = system_clock,
    registry: CollectorRegistry | None = None,
    owner: str | None = None,
    tracing: Tracing | None = None,
    config_path: str | None = None,
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
        handler_args=handler_args(config),
    )
    app[CONFIG] = config
    app[_CONFIG_PATH] = config_path or ""  # what /-/reload and SIGHUP read again

    async def reload() -> ReloadResult:
        return await reload_config(app)

    app[RELOAD] = reload
    app[CLOCK] = clock
    app[TRACING] = tracing if tracing is not None else Tracing.from_config(config.tracing)
    app[METRICS] = Metrics(registry if registry is not None else CollectorRegistry())
    app[TOKEN_AUTH] = TokenAuth(config.api.tokens)
    app[WEBHOOK_AUTH] = WebhookAuth(config.webhook.auth)
    app[TRUSTED_PROXIES] = TrustedProxies(config.api.trusted_proxies)
    app[CONNECTION_CAP] = ConnectionCap(config, app[METRICS])  # firebreak serve applies it
    app[AUTH_FAILURES] = AuthFailures(
        config.api.auth_failure_limit, config.api.auth_failure_window.total_seconds()
    )
    app[STARTED_AT] = clock()
    app[CLOCK_SKEW] = ClockSkew(app[METRICS])  # kept across reloads
    app[BREAKERS] = BreakerRegistry(_breaker_factory(config))
    app[_OWNER] = owner or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    app[_RUNBOOKS] = runbooks if runbooks is not None else load_runbooks(config)
    app[_STEP_ACTIONS] = dict(step_actions) if step_actions is not None else registered_actions()
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_runner)
    app.cleanup_ctx.append(_ingestor)
    if config.slack is not None:
        app.cleanup_ctx.append(_slack)

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
    r.add_post("/-/reload", ops.reload, name="reload")
    r.add_get("/api/v1/audit", audit_api.list_audit, name="audit")
    r.add_get("/api/v1/reports/response", reports_api.response, name="report_response")
    r.add_get("/api/v1/reports/noise", reports_api.noise, name="report_noise")
    r.add_get("/api/v1/reports/runbooks", reports_api.runbooks, name="report_runbooks")
    r.add_get("/api/v1/openapi.json", openapi.serve_openapi, name="openapi")
    r.add_get("/health", ops.health, name="health")
    r.add_get("/health/detailed", ops.health_detailed, name="health_detailed")
    r.add_get("/metrics", ops.metrics, name="metrics")
    r.add_get("/debug/circuit-breakers", ops.circuit_breakers, name="circuit_breakers")
    if config.slack is not None:
        r.add_post(config.slack.path, slack_events, name="slack")
    setup_console(app)
    return app


_OWNER = web.AppKey("owner", str)
_HTTP = web.AppKey("http_session", aiohttp.ClientSession)
_RUNBOOKS = web.AppKey("runbooks", Runbooks)
_CONFIG_PATH = web.AppKey("config_path", str)
_BUILT: web.AppKey[list[_Services]] = web.AppKey("services")
_STEP_ACTIONS: web.AppKey[Mapping[str, Callable[..., Any]]] = web.AppKey("step_actions")


def action_settings(config: Config) -> dict[str, Mapping[str, Any]]:
    """``automation.actions``, with ``automation.dead_letter_archive`` (relative to the
    configuration file) as the ``archive`` setting of retry_dead_letters."""
    found = {name: dict(values) for name, values in config.automation.actions.items()}
    archive = config.automation.dead_letter_archive
    if archive is not None:
        base = os.path.dirname(config.source) if os.path.isfile(config.source) else "."
        found.setdefault("retry_dead_letters", {})["archive"] = os.path.join(base, archive)
    return dict(found)


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
    app[AUDIT] = Audit(store, app[CLOCK])
    yield
    await store.close()


@dataclass
class _Services:
    """Everything built from the reloadable part of the configuration: the job handlers and
    the channels, policies, runbooks and checks behind them."""

    handlers: dict[str, Handler]
    channels: dict[str, Channel]
    escalation: Escalation
    guard: PipelineGuard
    retention: Retention
    executor: Executor
    guarded_http: aiohttp.ClientSession  # what http runbook steps connect through


def _services(
    app: web.Application, config: Config, session: aiohttp.ClientSession, runbooks: Runbooks
) -> _Services:
    clock, metrics = app[CLOCK], app[METRICS]
    slack_channels = _slack_channels(app, session, config, runbooks)
    channels: dict[str, Channel] = {
        name: build_channel(name, channel, session, clock)
        for name, channel in config.channels.items()
        if name not in slack_channels
    }
    channels.update(slack_channels)
    limits = {
        name: RateLimit(channel.rate_limit.per_minute, channel.rate_limit.burst)
        for name, channel in config.channels.items()
    }
    escalation = Escalation(
        config,
        app[STORE],
        channels,
        app[BREAKERS],
        RateLimiters(limits),
        metrics,
        skew=app[CLOCK_SKEW],
    )
    alertmanager = AlertmanagerClient(config.alertmanager, session) if config.alertmanager else None

    async def submit(notification: Notification) -> None:
        if INGESTOR not in app:
            raise StoreUnavailable("the receiver is starting")  # the job is retried
        await app[INGESTOR].submit(notification, None)

    guard = PipelineGuard(config, app[STORE], metrics, submit, alertmanager, app[STARTED_AT])
    retention = Retention(config.retention, app[STORE], metrics)
    automation = config.automation
    http_guard = HttpGuard(HostAllowList(automation.http_allow))
    guarded_http = http_guard.session()

    def wake() -> None:
        if RUNNER in app:
            app[RUNNER].wake()

    executor = Executor(
        runbooks,
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
            action_settings=action_settings(config),
            dead_letters=DeadLetters(app[STORE], clock, wake),
            clock=clock,
        ),
        automatic=config.automation.automatic,
        dry_run=config.automation.mode == "dry_run",
        annotate=config.grafana is not None,
        # An execution for an alert tells the alert's Slack messages how it goes.
        progress=progress_hook(config.slack.command)
        if slack_channels and config.slack is not None
        else None,
        redactor=Redactor.of(configured_secrets(config), automation.max_step_output_bytes),
    )
    handlers = {
        **escalation.handlers(),
        **guard.handlers(),
        **retention.handlers(),
        **executor.handlers(),
        **MessageUpdates(app[STORE], slack_channels).handlers(),
    }
    # What alerts that arrive (route) and that end (resolve, by Alertmanager or a person) set
    # off, in this order and in one outcome: escalation, Grafana's marks, runbook starts.
    reactions: list[Reaction] = [escalation]
    if config.grafana is not None:
        annotator = Annotator(config.grafana, session, app[STORE])
        handlers.update(annotator.handlers())
        reactions.append(annotator)
    reactions.append(executor)
    handlers.update(Reactions(app[STORE], reactions).handlers())
    return _Services(handlers, channels, escalation, guard, retention, executor, guarded_http)


async def _runner(app: web.Application) -> AsyncIterator[None]:
    config, clock, metrics = app[CONFIG], app[CLOCK], app[METRICS]
    session = aiohttp.ClientSession()
    app[_HTTP] = session
    built = _services(app, config, session, app[_RUNBOOKS])
    app[_BUILT] = [built]
    announce(config.automation, app[_RUNBOOKS])  # whether alerts will make runbooks act
    handlers, escalation, guard, retention, executor = (
        built.handlers,
        built.escalation,
        built.guard,
        built.retention,
        built.executor,
    )
    app[PIPELINE] = guard
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
        preloads=escalation.preloads(),
        inline=escalation.inline(),
        give_way=lambda: app[INGESTOR].give_way if INGESTOR in app else 0.0,
        run_limit=escalation.run_limit,
        tracing=app[TRACING],
    )
    app[RUNNER] = runner
    app[ACTIONS] = AlertActions(
        app[STORE],
        metrics,
        clock,
        runner.wake,
        follow_ups=alert_follow_ups(app[CONFIG]),
    )
    app[AUTOMATION] = AutomationService(
        executor, app[STORE], clock, runner.wake, People(config.people, config.api.tokens)
    )
    app[DRILLS] = Drills(app[AUTOMATION], app[STORE], clock, _injector(app))
    seeds = guard.seed(clock()) + retention.seed(clock())
    if seeds:
        async with app[STORE].transaction(durable=False) as conn:
            await app[STORE].jobs.enqueue(conn, seeds, clock())
    app[PAGERDUTY_SYNC] = PagerDutySync(app[STORE], app[ACTIONS], metrics, clock)
    runner.start()
    yield
    await runner.stop()
    app[TRACING].shutdown()  # flush the spans still buffered
    for each in app[_BUILT]:  # the channels of every configuration loaded, reloads included
        for channel in each.channels.values():
            await channel.close()
        await each.guarded_http.close()
    await session.close()


def _injector(app: web.Application) -> Inject:
    """Drills inject their synthetic webhook where Alertmanager's go: parsed and ingested."""

    async def inject(payload: dict[str, Any]) -> None:
        notification = parse_webhook_body(json.dumps(payload).encode())
        await app[INGESTOR].submit(notification, request_id_var.get())

    return inject


def _slack_channels(
    app: web.Application, session: aiohttp.ClientSession, config: Config, runbooks: Runbooks
) -> dict[str, SlackChannel]:
    """The Slack Web API client (when ``slack`` is configured) and the ``slack`` channels.
    The client is made once: the ``slack`` section takes effect at a restart."""
    slack = app[CONFIG].slack
    if slack is None:
        return {}
    if SLACK_CLIENT in app:
        client = app[SLACK_CLIENT]
    else:
        client = AsyncWebClient(
            token=slack.bot_token,
            base_url=slack.api_url,
            session=session,
            timeout=10,
            retry_handlers=[],  # jobs do the waiting: a 429 defers the job, never sleeps here
        )
        app[SLACK_CLIENT] = client
    pacer = Pacer(slack.message_interval.total_seconds())
    view = MessageView(
        grafana_url=slack.grafana_url, silence_button=config.alertmanager is not None
    )
    names = [name for name, channel in config.channels.items() if channel.type == "slack"]
    state = state_lookup(app[STORE], names, Router(config))
    references = reference_lookup(app[STORE], names)
    offers = runbook_offers(
        app[STORE],
        runbooks,
        config.automation.automatic,
        dry_run=config.automation.mode == "dry_run",
    )
    found = {}
    for name in names:
        section = config.channels[name].slack
        own = section.channel if section is not None else None
        found[name] = SlackChannel(
            name,
            client,
            default_channel=own or slack.default_channel,
            pacer=pacer,
            state=state,
            view=view,
            references=references,
            runbooks=offers,
        )
    return found


async def _slack(app: web.Application) -> AsyncIterator[None]:
    """The slash command and buttons, over the services the runner context made."""
    config = app[CONFIG]
    slack = config.slack
    assert slack is not None
    client = app[SLACK_CLIENT]
    alertmanager = (
        AlertmanagerClient(config.alertmanager, app[_HTTP]) if config.alertmanager else None
    )
    commands = SlackCommands(
        config,
        app[ACTIONS],
        ChatOps(app[STORE], app[CLOCK], alertmanager),
        SlackRoles(slack, client),
        app[METRICS],
        app[AUTOMATION],
        app[AUDIT],
    )
    app[SLACK_BOLT] = build_bolt_app(slack, client, commands)
    yield


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
    yield
    await ingestor.stop()


# Sections (and keys) read only at start: a reload that changes them says a restart is needed.
RESTART_ONLY = (
    "listen",
    "database",
    "ingest",
    "jobs",
    "shutdown_grace",
    "tls",
    "slack",
    "log",
    "api.header_timeout",
)


def _setting(config: Config, key: str) -> Any:
    return functools.reduce(getattr, key.split("."), config)


_reloading = asyncio.Lock()


async def reload_config(app: web.Application) -> ReloadResult:
    """Read the configuration file and the runbooks again and put them in force at once, as
    one: channels, policies, routes, runbooks, tokens, checks. An invalid new configuration is
    refused with its problems and the old one stays in force, as Prometheus does."""
    async with _reloading:
        metrics = app[METRICS]
        path = app[_CONFIG_PATH]
        try:
            if not path:
                raise ConfigError(["this process was not started from a configuration file"])
            config = load_config(path)
            if app[CONFIG].listen_from != "listen":  # --listen or FIREBREAK_LISTEN: still so
                old = app[CONFIG]
                config = dataclasses.replace(config, listen=old.listen, listen_from=old.listen_from)
            runbooks = load_runbooks(config)
        except ConfigError as exc:
            metrics.config_reloads.labels("failure").inc()
            metrics.config_last_reload_successful.set(0)
            log.error(
                "configuration reload refused; the old one stays: %s", "; ".join(exc.problems)
            )
            return ReloadResult(False, tuple(exc.problems))
        old = app[CONFIG]
        restart = tuple(k for k in RESTART_ONLY if _setting(old, k) != _setting(config, k))
        was = mode_line(old.automation, app[_BUILT][-1].executor.runbooks)
        built = _services(app, config, app[_HTTP], runbooks)
        app[_BUILT].append(built)
        runner = app[RUNNER]
        runner.replace_handlers(
            built.handlers, built.escalation.horizons(), built.escalation.preloads()
        )
        app[TOKEN_AUTH].replace(config.api.tokens)
        app[WEBHOOK_AUTH].replace(config.webhook.auth)
        app[TRUSTED_PROXIES].replace(config.api.trusted_proxies)
        app[CONNECTION_CAP].replace(config)
        automation = AutomationService(
            built.executor,
            app[STORE],
            app[CLOCK],
            runner.wake,
            People(config.people, config.api.tokens),
        )
        with warnings.catch_warnings():
            # aiohttp frowns on changing a running application's state; these few keys are
            # what a reload exists to change, each swapped whole.
            warnings.simplefilter("ignore", DeprecationWarning)
            app[CONFIG] = config
            app[PIPELINE] = built.guard
            app[AUTOMATION] = automation
            app[DRILLS] = Drills(automation, app[STORE], app[CLOCK], _injector(app))
        now = app[CLOCK]()
        seeds = built.guard.seed(now) + built.retention.seed(now)
        if seeds:
            async with app[STORE].transaction(durable=False) as conn:
                await app[STORE].jobs.enqueue(conn, seeds, now)
        metrics.config_reloads.labels("success").inc()
        metrics.config_last_reload_successful.set(1)
        metrics.config_last_reload_success.set_to_current_time()
        if restart:
            log.warning("configuration reloaded; %s take effect at a restart", ", ".join(restart))
        else:
            log.info("configuration reloaded")
        if mode_line(config.automation, runbooks) != was:
            announce(config.automation, runbooks)
        return ReloadResult(True, (), restart)
