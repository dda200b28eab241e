"""The composition root: a configuration, a store and a clock become the services behind
every job, route and command.

``build_services`` is the one place concrete adapters (channels, the Slack client's channels,
the Alertmanager client, the runbook executor) are made from configuration; the application
builds them at start and again at each reload, from plain values and callables, never from the
``web.Application`` itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from receiver.actions import AlertActions
from receiver.alert_graphs import SlackGraphs, email_graphs
from receiver.alertmanager_api import AlertmanagerClient
from receiver.audit import Audit
from receiver.automation.definitions import Runbooks, silence_api
from receiver.automation.executor import Executor
from receiver.automation.guards import GuardedHttp, HttpGuard, ShellPolicy
from receiver.automation.redaction import Redactor, configured_secrets
from receiver.automation.service import AutomationService
from receiver.automation.steps import StepEnvironment
from receiver.breaker import BreakerRegistry
from receiver.calendars import MAX_CALENDAR_BYTES, Calendars
from receiver.channels import ChannelExtras, build_channel, build_slack_channels, links_for
from receiver.clock_skew import ClockSkew
from receiver.config import Config
from receiver.config.integrations import SlackConfig
from receiver.deadletters import DeadLetters
from receiver.escalation import Escalation
from receiver.grafana import Annotator
from receiver.graphs import Grapher
from receiver.handoffs import Handoffs
from receiver.heartbeats import Heartbeats
from receiver.hostallow import HostAllowList
from receiver.job_handlers import Handler, Preload
from receiver.maintenance import HeldReactions, Maintenance
from receiver.metrics import Metrics
from receiver.model import Clock, Notification
from receiver.notify.base import Channel
from receiver.notify.links import NoticeLinks
from receiver.people import People
from receiver.pipeline import PipelineGuard
from receiver.ratelimit import RateLimit, RateLimiters
from receiver.reactions import Reaction, Reactions
from receiver.retention import Retention
from receiver.routing import Router
from receiver.schedules import Schedules
from receiver.slack_messages import (
    MessageUpdates,
    alert_follow_ups,
    progress_hook,
    slack_ahead,
)
from receiver.store import Store
from receiver.templates import channel_templates

Submit = Callable[[Notification], Awaitable[None]]


@dataclass(frozen=True)
class Lasting:
    """What outlives a reload, made once at start: circuit breakers (their state is the
    integration's, not the configuration's), the clock-skew tracker, the start time, the step
    actions, and the Slack client with the ``slack`` section it was made from (that section
    takes effect at a restart)."""

    breakers: BreakerRegistry
    skew: ClockSkew
    started_at: datetime
    step_actions: Mapping[str, Callable[..., Any]]
    slack: SlackConfig | None = None
    slack_client: AsyncWebClient | None = None
    # What circuit breakers and rate limiters count seconds by.
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class Services:
    """Everything built from the reloadable part of the configuration: the job handlers and
    the channels, policies, runbooks and checks behind them."""

    handlers: dict[str, Handler]
    channels: dict[str, Channel]
    escalation: Escalation
    guard: PipelineGuard
    retention: Retention
    executor: Executor
    automation: AutomationService  # runbooks run by hand, approvals, the kill switch
    guarded_http: aiohttp.ClientSession  # what http runbook steps connect through
    schedules: Schedules  # who is on call, with the overrides in the store
    handoffs: Handoffs  # hand-off messages and user groups that follow who is on call
    maintenance: Maintenance  # maintenance windows: open, made and ended
    heartbeats: Heartbeats  # what cron jobs and backups report in, and their checks
    grapher: Grapher | None = None  # alerts' graphs (graphs:), for the console
    # The reads the job runner does, for all the jobs of a kind it claims in a turn, in it.
    preloads: dict[str, Preload] = field(default_factory=dict)

    async def seed(self, store: Store, now: datetime) -> None:
        """Enqueue the periodic jobs (watchdog, reconcile, retention, hand-offs), the silences
        of the file's maintenance windows and the heartbeats' checks this configuration runs,
        and start reading its schedules' calendars."""
        self.schedules.calendars.start()  # read the calendars without holding the start up
        seeds = self.guard.seed(now) + self.retention.seed(now) + self.handoffs.seed(now)
        seeds += self.maintenance.seed(now)
        if seeds:
            async with store.transaction(durable=False) as conn:
                await store.jobs.enqueue(conn, seeds, now)
        await self.heartbeats.seed(now)

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        await self.guarded_http.close()
        await self.schedules.calendars.close()


def build_services(
    config: Config,
    store: Store,
    clock: Clock,
    metrics: Metrics,
    session: aiohttp.ClientSession,
    runbooks: Runbooks,
    lasting: Lasting,
    *,
    submit: Submit,
    wake: Callable[[], None],
) -> Services:
    """The services ``config`` describes. ``submit`` ingests a notification (the watchdog's
    group fetches); ``wake`` nudges the job runner when new jobs are due."""
    links = NoticeLinks(external_url=config.notifications.external_url)
    templates = channel_templates(config, links, metrics)
    maintenance = Maintenance(config, store, clock, metrics, wake, lasting.monotonic)
    slack_channels = build_slack_channels(
        store,
        config,
        runbooks,
        lasting.slack,
        lasting.slack_client,
        templates,
        maintenance,
        monotonic=lasting.monotonic,
    )
    grapher = Grapher(config.graphs, session) if config.graphs is not None else None
    email_graphs_of = email_graphs(grapher) if grapher is not None else None
    channels: dict[str, Channel] = {
        name: build_channel(
            name,
            channel,
            session,
            clock,
            ChannelExtras(links_for(config, name, clock), templates.get(name), email_graphs_of),
        )
        for name, channel in config.channels.items()
        if name not in slack_channels
    }
    channels.update(slack_channels)
    limits = {
        name: RateLimit(channel.rate_limit.per_minute, channel.rate_limit.burst)
        for name, channel in config.channels.items()
    }
    schedules = Schedules(config, store, clock, _calendars(config, clock))
    graphs = SlackGraphs(grapher, store, slack_channels) if grapher and slack_channels else None
    escalation = Escalation(
        config,
        store,
        channels,
        lasting.breakers,
        RateLimiters(limits, clock=lasting.monotonic),
        metrics,
        skew=lasting.skew,
        schedules=schedules,
        submit=submit,
        after_sent=[graphs.after_sent] if graphs is not None else [],
        maintenance=maintenance,
        follow_ups=alert_follow_ups(config),
    )
    alertmanager = AlertmanagerClient(config.alertmanager, session) if config.alertmanager else None
    guard = PipelineGuard(config, store, metrics, submit, alertmanager, lasting.started_at)
    retention = Retention(config.retention, store, metrics, lasting.monotonic)
    automation = config.automation
    http_guard = HttpGuard(HostAllowList(automation.http_allow))
    guarded_http = http_guard.session()
    executor = Executor(
        runbooks,
        store,
        metrics,
        StepEnvironment(
            http=session,
            prometheus_url=config.automation.prometheus_url,
            alertmanager_url=silence_api(config),
            actions=lasting.step_actions,
            channels=channels,
            http_guard=http_guard,
            guarded_http=guarded_http,
            shell=ShellPolicy(
                automation.shell_allow,
                cpu_seconds=int(automation.shell_limits.cpu_time.total_seconds()),
                address_space_bytes=automation.shell_limits.address_space_bytes,
            ),
            action_settings=action_settings(config),
            dead_letters=DeadLetters(store, clock, wake),
            clock=clock,
            monotonic=lasting.monotonic,
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
    handoffs = Handoffs(config, schedules, channels, Audit(store, clock))
    heartbeats = Heartbeats(config.every_heartbeat, store, metrics, submit, wake)
    handlers = {
        **heartbeats.handlers(),
        **escalation.handlers(),
        **handoffs.handlers(),
        **guard.handlers(),
        **retention.handlers(),
        **executor.handlers(),
        **MessageUpdates(
            store, slack_channels, slack_ahead(store, config, Router(config))
        ).handlers(),
        **(graphs.handlers() if graphs is not None else {}),
    }
    # What alerts that arrive (route) and that end (resolve, by Alertmanager or a person) set
    # off, in this order and in one outcome: escalation and runbook starts (held back while a
    # maintenance window covers an alert), Grafana's marks.
    held: list[Reaction] = [escalation, executor]
    reactions: list[Reaction] = [HeldReactions(maintenance, store, held)]
    if config.grafana is not None:
        annotator = Annotator(config.grafana, session, store)
        handlers.update(annotator.handlers())
        reactions.append(annotator)
    reacting = Reactions(store, reactions)
    handlers.update(reacting.handlers())
    handlers.update(maintenance.handlers(held, alertmanager))
    automation_service = AutomationService(
        executor, store, clock, wake, People(config.people, config.api.tokens, config.teams)
    )
    return Services(
        handlers,
        channels,
        escalation,
        guard,
        retention,
        executor,
        automation_service,
        guarded_http,
        schedules,
        handoffs,
        maintenance,
        heartbeats,
        grapher,
        preloads={**escalation.preloads(), **reacting.preloads()},
    )


def _calendars(config: Config, clock: Clock) -> Calendars:
    """The ``ical`` schedules' calendars, URLs fetched through a guard of their own
    (``oncall.ical_hosts``): a session per fetch, so nothing is left open across reloads."""
    if not any(s.ical for s in config.schedules):
        return Calendars(config, clock)
    guard = HttpGuard(HostAllowList(config.oncall.ical_hosts))

    async def fetch(url: str) -> bytes:
        async with guard.session() as session:
            http = GuardedHttp(guard, session)
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                    if response.status != 200:
                        raise OSError(0, f"answered HTTP {response.status}")
                    data: bytes = await response.content.read(MAX_CALENDAR_BYTES + 1)
            except aiohttp.ClientError as exc:
                # Never the URL itself: a calendar's address often carries its access token.
                raise OSError(0, f"fetch failed: {type(exc).__name__}") from None
        if len(data) > MAX_CALENDAR_BYTES:
            raise OSError(0, f"larger than {MAX_CALENDAR_BYTES} bytes")
        return data

    return Calendars(config, clock, fetch)


def alert_actions(
    config: Config, store: Store, metrics: Metrics, clock: Clock, wake: Callable[[], None]
) -> AlertActions:
    """Acknowledge, resolve and snooze, with the follow-ups (Slack message updates) that
    ``config`` asks for."""
    return AlertActions(store, metrics, clock, wake, follow_ups=alert_follow_ups(config))


def action_settings(config: Config) -> dict[str, Mapping[str, Any]]:
    """``automation.actions``, with ``automation.dead_letter_archive`` (relative to the
    configuration file) as the ``archive`` setting of retry_dead_letters."""
    found = {name: dict(values) for name, values in config.automation.actions.items()}
    archive = config.automation.dead_letter_archive
    if archive is not None:
        base = os.path.dirname(config.source) if os.path.isfile(config.source) else "."
        found.setdefault("retry_dead_letters", {})["archive"] = os.path.join(base, archive)
    return dict(found)
