"""The ``pagerduty`` channel type and the top-level ``pagerduty`` section of firebreak.yml."""

from __future__ import annotations

from datetime import timedelta

from receiver.config import ChannelConfig, PagerDutyChannelConfig, PagerDutyConfig
from tests.unit.config.common import parse, problems


def test_pagerduty_defaults() -> None:
    config = parse(
        """
        channels:
          pd:
            type: pagerduty
            pagerduty: {routing_keys: {default: k}}
        """
    )
    channel = config.channels["pd"].pagerduty
    assert channel == PagerDutyChannelConfig(routing_keys={"default": "k"})
    assert dict(channel.severity_map) == {
        "critical": "critical",
        "error": "error",
        "warning": "warning",
        "info": "info",
    }
    assert channel.default_severity == "warning"
    assert (channel.source_label, channel.component_label, channel.group_label) == (
        "instance",
        "service",
        "job",
    )
    assert channel.class_label == "alertname"
    assert channel.events_per_minute == 100.0
    assert channel.throttle_wait == timedelta(seconds=30)
    assert channel.api_url == "https://events.pagerduty.com"
    assert config.pagerduty == PagerDutyConfig()
    assert config.pagerduty.webhook_secrets == ()
    assert config.pagerduty.max_body_bytes == 262144


def test_every_pagerduty_key_round_trips() -> None:
    config = parse(
        """
        channels:
          pd:
            type: pagerduty
            pagerduty:
              routing_keys: {default: "${PD_KEY}", db: k2}
              severity_map: {page: critical, ticket: info}
              default_severity: error
              severity_label: priority
              source_label: host
              component_label: null
              group_label: team
              class_label: null
              dashboard_annotation: grafana_url
              events_per_minute: 60
              throttle_wait: 1m
              timeout: 5s
              api_url: https://events.eu.pagerduty.com
              ca_file: /etc/ssl/pd.pem
        escalation_policies:
          p:
            tiers: [{notify: [pd, {channel: pd, target: db}]}]
        pagerduty:
          webhook_secrets: [s1, s2]
          max_body_bytes: 1024
        """,
        env={"PD_KEY": "k1"},
    )
    assert config.channels["pd"] == ChannelConfig(
        type="pagerduty",
        pagerduty=PagerDutyChannelConfig(
            routing_keys={"default": "k1", "db": "k2"},
            severity_map={"page": "critical", "ticket": "info"},
            default_severity="error",
            severity_label="priority",
            source_label="host",
            component_label=None,
            group_label="team",
            class_label=None,
            dashboard_annotation="grafana_url",
            events_per_minute=60.0,
            throttle_wait=timedelta(minutes=1),
            timeout=timedelta(seconds=5),
            api_url="https://events.eu.pagerduty.com",
            ca_file="/etc/ssl/pd.pem",
        ),
    )
    assert config.pagerduty == PagerDutyConfig(webhook_secrets=("s1", "s2"), max_body_bytes=1024)
    assert "k1" not in repr(config) and "s1" not in repr(config)


def test_pagerduty_problems_name_the_key_and_hide_the_secrets() -> None:
    found = problems(
        """
        channels:
          pd:
            type: pagerduty
            pagerduty:
              routing_keys: {default: 12345}
              severity_map: {page: p1}
              events_per_minute: 0
          other:
            type: log
            pagerduty: {routing_keys: {default: k}}
          bare: {type: pagerduty}
        pagerduty:
          webhook_secrets: whsec-not-a-list
        """
    )
    assert found == [
        "f.yml:6:22: channels.pd.pagerduty.routing_keys.default: expected a string, got a number",
        "f.yml:7:22: channels.pd.pagerduty.severity_map.page: expected one of critical, error, "
        'warning, info, got "p1"',
        "f.yml:8:7: channels.pd.pagerduty.events_per_minute: must be greater than 0",
        "f.yml:11:5: channels.other.pagerduty: not allowed when type is log",
        "f.yml:12:3: channels.bare.pagerduty: required when type is pagerduty",
        "f.yml:14:3: pagerduty.webhook_secrets: expected a list, got a string",
    ]
