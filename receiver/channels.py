"""Channels from configuration: the one place a ``channels.<name>`` section becomes a
``Channel`` (``CHANNEL_TYPES``: a type's name → what builds it), the ``slack`` channels over
the one Slack client made at start, the links a channel's notices carry, and each channel's
circuit breaker. ``build_services`` calls it at start and at each reload;
``firebreak templates render`` to show what a channel would send.
"""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from receiver.acklinks import LinkSigner
from receiver.automation.definitions import Runbooks
from receiver.breaker import CircuitBreaker
from receiver.config import ChannelConfig, Config
from receiver.config.integrations import SlackConfig
from receiver.maintenance import Maintenance
from receiver.model import Clock
from receiver.notify.base import Channel
from receiver.notify.email import EmailChannel, GraphLookup
from receiver.notify.links import AckLinker, NoticeLinks
from receiver.notify.log import LogChannel
from receiver.notify.pagerduty import PagerDutyChannel
from receiver.notify.slack import Pacer, SlackChannel
from receiver.notify.slack.blocks import MessageView
from receiver.notify.teams import TeamsChannel, TeamsLinks
from receiver.notify.templated import MessageTemplate
from receiver.notify.webhook import WebhookChannel
from receiver.routing import Router
from receiver.slack_messages import paged_lookup, reference_lookup, runbook_offers, state_lookup
from receiver.store import Store


def breaker_factory(
    config: Config, monotonic: Callable[[], float] = time.monotonic
) -> Callable[[str, str], CircuitBreaker]:
    """A channel's circuit breaker, with the channel's ``breaker`` settings."""

    def make(channel: str, _target: str) -> CircuitBreaker:
        settings = config.channels[channel].breaker if channel in config.channels else None
        if settings is None:
            return CircuitBreaker(clock=monotonic)
        return CircuitBreaker(
            failure_threshold=settings.failure_threshold,
            open_cooldown=settings.open_cooldown.total_seconds(),
            half_open_probe_count=settings.half_open_probe_count,
            clock=monotonic,
        )

    return make


def links_for(config: Config, channel: str, clock: Clock) -> NoticeLinks:
    """The links channel ``channel`` puts in its notices: console, and acknowledge links when
    they are configured."""
    notifications = config.notifications
    ack = notifications.acknowledge_links
    if ack is None or notifications.external_url is None:
        return NoticeLinks(external_url=notifications.external_url)
    linker = AckLinker(LinkSigner(ack.secret), notifications.external_url, channel, ack.ttl, clock)
    return NoticeLinks(external_url=notifications.external_url, acknowledge=linker)


@dataclass(frozen=True, slots=True)
class ChannelExtras:
    """What a channel is given besides its own section: links back to Firebreak, the
    channel's message template, and the graphs an e-mail shows inline."""

    links: NoticeLinks = field(default_factory=NoticeLinks)
    template: MessageTemplate | None = None
    graphs: GraphLookup | None = None


ChannelBuilder = Callable[
    [str, ChannelConfig, aiohttp.ClientSession, Clock, ChannelExtras], "Channel | None"
]


def _webhook(
    name: str,
    channel: ChannelConfig,
    session: aiohttp.ClientSession,
    clock: Clock,
    extras: ChannelExtras,
) -> Channel | None:
    hook = channel.webhook
    if hook is None:
        return None
    return WebhookChannel(
        name,
        hook.url,
        session=session,
        secret=hook.secret,
        timeout=hook.timeout.total_seconds(),
        headers=dict(hook.headers),
        clock=clock,
        template=extras.template,
    )


def _email(
    name: str,
    channel: ChannelConfig,
    _session: aiohttp.ClientSession,
    clock: Clock,
    extras: ChannelExtras,
) -> Channel | None:
    mail = channel.email
    if mail is None:
        return None
    tls_context = ssl.create_default_context(cafile=mail.ca_file) if mail.ca_file else None
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
        template=extras.template,
        links=extras.links,
        graphs=extras.graphs,
    )


def _pagerduty(
    name: str,
    channel: ChannelConfig,
    _session: aiohttp.ClientSession,
    clock: Clock,
    _extras: ChannelExtras,
) -> Channel | None:
    if channel.pagerduty is None:
        return None
    return PagerDutyChannel(name, channel.pagerduty, clock=clock)


def _teams(
    name: str,
    channel: ChannelConfig,
    session: aiohttp.ClientSession,
    clock: Clock,
    extras: ChannelExtras,
) -> Channel | None:
    teams = channel.teams
    if teams is None:
        return None
    return TeamsChannel(
        name,
        teams.url,
        session=session,
        timeout=teams.timeout.total_seconds(),
        links=TeamsLinks(teams.grafana_url, teams.silence_url, extras.links),
        template=extras.template,
        clock=clock,
    )


# A channel type's name in ``channels.<name>.type`` → what builds it. ``slack`` channels share
# the one Slack client and are built apart (``build_slack_channels``); a type missing here, or one
# without its section, logs what it would have sent.
CHANNEL_TYPES: Mapping[str, ChannelBuilder] = {
    "webhook": _webhook,
    "email": _email,
    "pagerduty": _pagerduty,
    "teams": _teams,
}


def build_channel(
    name: str,
    channel: ChannelConfig,
    session: aiohttp.ClientSession,
    clock: Clock,
    extras: ChannelExtras | None = None,
) -> Channel:
    """The one place channel configuration becomes a channel."""
    builder = CHANNEL_TYPES.get(channel.type)
    extras = extras or ChannelExtras()
    built = builder(name, channel, session, clock, extras) if builder is not None else None
    return built if built is not None else LogChannel(name)


def slack_client(slack: SlackConfig, session: aiohttp.ClientSession) -> AsyncWebClient:
    """The Slack Web API client, made once per process."""
    return AsyncWebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        session=session,
        timeout=10,
        retry_handlers=[],  # jobs do the waiting: a 429 defers the job, never sleeps here
    )


def build_slack_channels(
    store: Store,
    config: Config,
    runbooks: Runbooks,
    slack: SlackConfig | None,
    client: AsyncWebClient | None,
    templates: Mapping[str, MessageTemplate],
    maintenance: Maintenance | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> dict[str, SlackChannel]:
    """The ``slack`` channels, over the client made at start from the ``slack`` section it
    was made from (none without one); their pace and Slack's holds are counted in
    ``monotonic`` seconds, like the breakers and rate limits."""
    if slack is None or client is None:
        return {}
    pacer = Pacer(slack.message_interval.total_seconds(), clock=monotonic)
    view = MessageView(
        grafana_url=slack.grafana_url, silence_button=config.alertmanager is not None
    )
    names = [name for name, channel in config.channels.items() if channel.type == "slack"]
    state = state_lookup(store, names, Router(config), maintenance)
    references = reference_lookup(store, names)
    paged = paged_lookup(store, config.people)
    offers = runbook_offers(
        store,
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
            view=dataclasses.replace(view, template=templates.get(name)),
            references=references,
            runbooks=offers,
            paged=paged,
        )
    return found
