"""The composition root: each channel type from its table entry, and the services built from a
configuration, a store and plain callables (no application)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from receiver.automation.definitions import Runbooks
from receiver.breaker import BreakerRegistry
from receiver.channels import CHANNEL_TYPES, breaker_factory, build_channel, slack_client
from receiver.clock_skew import ClockSkew
from receiver.config import Config, parse_config
from receiver.metrics import Metrics
from receiver.model import Notification, system_clock
from receiver.notify.email import EmailChannel
from receiver.notify.log import LogChannel
from receiver.notify.pagerduty import PagerDutyChannel
from receiver.notify.slack import SlackChannel
from receiver.notify.teams import TeamsChannel
from receiver.notify.webhook import WebhookChannel
from receiver.services import Lasting, build_services
from receiver.store import open_store

CHANNELS = """
database: {{url: "sqlite+aiosqlite:///{db}"}}
slack: {{bot_token: xoxb-test, signing_secret: test-signing-secret, api_url: "http://127.0.0.1:9/api/"}}
channels:
  hook: {{type: webhook, webhook: {{url: "http://127.0.0.1:9/hook", timeout: 1s}}}}
  card: {{type: teams, teams: {{url: "http://127.0.0.1:9/workflow"}}}}
  mail:
    type: email
    email: {{host: 127.0.0.1, port: 2525, starttls: false, sender: fb@example.org,
             to: [oncall@example.org], timeout: 1s}}
  pd: {{type: pagerduty, pagerduty: {{routing_keys: {{default: pd-key}}}}}}
  chat: {{type: slack, slack: {{channel: C0123456789}}}}
  quiet: {{type: log}}
escalation_policies:
  default:
    tiers: [{{after: 0s, notify: [hook, mail, pd, chat, quiet]}}]
"""


def _config(tmp_path: Path) -> Config:
    return parse_config(CHANNELS.format(db=tmp_path / "fb.db"), env={})


async def test_each_channel_type_is_built_by_its_table_entry(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert set(CHANNEL_TYPES) == {"webhook", "email", "pagerduty", "teams"}
    expected = {
        "hook": WebhookChannel,
        "mail": EmailChannel,
        "pd": PagerDutyChannel,
        "card": TeamsChannel,
    }
    async with aiohttp.ClientSession() as session:
        for name, kind in expected.items():
            channel = build_channel(name, config.channels[name], session, system_clock)
            assert isinstance(channel, kind)
            await channel.close()
        # A type without a table entry (log; slack, built over the Slack client) logs.
        for name in ("quiet", "chat"):
            channel = build_channel(name, config.channels[name], session, system_clock)
            assert isinstance(channel, LogChannel)


async def _no_ingest(_notification: Notification) -> None:
    raise AssertionError("nothing is ingested while building")


async def test_services_are_built_from_plain_values(tmp_path: Path) -> None:
    config = _config(tmp_path)
    metrics = Metrics(CollectorRegistry())
    woken: list[int] = []
    async with open_store(config.database) as store, aiohttp.ClientSession() as session:
        assert config.slack is not None
        client = slack_client(config.slack, session)
        for slack, want in ((None, LogChannel), (config.slack, SlackChannel)):
            lasting = Lasting(
                BreakerRegistry(breaker_factory(config)),
                ClockSkew(metrics),
                system_clock(),
                {},
                slack=slack,
                slack_client=client if slack is not None else None,
            )
            built = build_services(
                config,
                store,
                system_clock,
                metrics,
                session,
                Runbooks(),
                lasting,
                submit=_no_ingest,
                wake=lambda: woken.append(1),
            )
            try:
                assert {"hook", "mail", "pd", "chat", "quiet"} <= set(built.channels)
                assert isinstance(built.channels["chat"], want)
                assert {"route", "resolve", "notify"} <= set(built.handlers)
                assert built.automation.list_runbooks() == []
            finally:
                await built.close()
    assert woken == []
