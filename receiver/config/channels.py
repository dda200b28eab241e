"""Notification channels (``channels.NAME``): a type, the section of that type (email,
webhook, pagerduty, slack, teams) and the limits every channel has."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from receiver.config.checks import (
    check_address,
    check_http_url,
    check_slack_channel,
    greater_than_zero,
    not_empty,
    positive_duration,
)
from receiver.config.walker import Shorthand, empty_mapping, one_item_list
from receiver.config.yaml import join


def _check_port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be between 1 and 65535"


# RFC 9110's token: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


_ADDRESSES = Shorthand(str, one_item_list, "an email address or a list of them")


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """How fast one channel may send; what the limit holds back goes out later as a digest."""

    per_minute: float = field(default=10.0, metadata={"check": greater_than_zero})
    # Notices that may go out at once after a quiet spell, before per_minute applies.
    burst: int = field(default=20, metadata={"check": greater_than_zero})


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """A channel's circuit breaker: stop hammering a far side that keeps failing."""

    # Consecutive failed sends that open the breaker.
    failure_threshold: int = field(default=5, metadata={"check": greater_than_zero})
    # How long an open breaker refuses sends before it lets probes through.
    open_cooldown: timedelta = field(
        default=timedelta(seconds=60), metadata={"check": positive_duration}
    )
    # Probes that must succeed, half-open, before the breaker closes again.
    half_open_probe_count: int = field(default=3, metadata={"check": greater_than_zero})


@dataclass(frozen=True, slots=True)
class EmailChannelConfig:
    """An SMTP server to send mail through, and who the mail is from and to."""

    host: str = field(metadata={"check": not_empty})
    port: int = field(default=587, metadata={"check": _check_port})
    starttls: bool = True  # upgrade a plain connection with STARTTLS (usually port 587)
    use_tls: bool = False  # TLS from the first byte (usually port 465); excludes starttls
    username: str | None = field(default=None, metadata={"check": not_empty})
    password: str | None = field(
        default=None, repr=False, metadata={"secret": True, "check": not_empty}
    )
    sender: str = field(kw_only=True, metadata={"check": check_address})
    # Recipients when a tier names no target.
    to: tuple[str, ...] = field(
        default=(), metadata={"shorthand": _ADDRESSES, "check_each": check_address}
    )
    timeout: timedelta = field(default=timedelta(seconds=10), metadata={"check": positive_duration})
    ca_file: str | None = field(default=None, metadata={"check": not_empty})  # PEM; else system

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """TLS modes exclude each other; credentials come in pairs."""
        problems: list[tuple[str, str]] = []
        if self.use_tls and self.starttls:
            problems.append(
                (
                    join(path, "use_tls"),
                    "cannot be combined with starttls; set starttls: false for TLS from the start",
                )
            )
        if self.username is not None and self.password is None:
            problems.append((join(path, "password"), "required when username is set"))
        if self.password is not None and self.username is None:
            problems.append((join(path, "username"), "required when password is set"))
        return problems


@dataclass(frozen=True, slots=True)
class WebhookChannelConfig:
    """An HTTP endpoint that receives each notice as signed JSON."""

    # Secret because webhook URLs (Slack's, for one) often carry a token in the path or query.
    url: str = field(repr=False, metadata={"secret": True, "check": check_http_url})
    # HMAC-SHA256 key for the X-Firebreak-Signature header; unsigned when not set.
    secret: str | None = field(
        default=None, repr=False, metadata={"secret": True, "check": not_empty}
    )
    timeout: timedelta = field(default=timedelta(seconds=10), metadata={"check": positive_duration})
    # Secret because headers are where API keys go (Authorization, X-Api-Key).
    headers: Mapping[str, str] = field(
        default_factory=empty_mapping, repr=False, metadata={"secret": True}
    )

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """Header names must be HTTP tokens and values single lines (no header injection)."""
        problems: list[tuple[str, str]] = []
        for name, value in self.headers.items():
            where = join(join(path, "headers"), name)
            if not _HEADER_NAME.fullmatch(name):
                problems.append((where, "not a valid HTTP header name"))
            elif any(char in value for char in "\r\n\0"):
                problems.append((where, "must not contain line breaks or NUL characters"))
        return problems


@dataclass(frozen=True, slots=True)
class SlackChannelConfig:
    """A Slack channel type's own settings (``channels.NAME.slack``)."""

    # Where notices go when a tier names no target; else slack.default_channel.
    channel: str | None = field(default=None, metadata={"check": check_slack_channel})


@dataclass(frozen=True, slots=True)
class TeamsChannelConfig:
    """A Microsoft Teams channel reached through a Workflows webhook (``channels.NAME.teams``)."""

    # The URL of the workflow's "When a Teams webhook request is received" trigger. Secret:
    # its query carries the signature that lets anyone holding it post to the channel.
    url: str = field(repr=False, metadata={"secret": True, "check": check_http_url})
    timeout: timedelta = field(default=timedelta(seconds=10), metadata={"check": positive_duration})
    # Grafana for the card's Grafana button when an alert has no dashboard_url annotation.
    grafana_url: str | None = field(default=None, metadata={"check": check_http_url})
    # Alertmanager's web UI, for a Silence button that opens a new silence for the alert.
    silence_url: str | None = field(default=None, metadata={"check": check_http_url})


def _check_https_url(url: str) -> str | None:
    return None if url.startswith("https://") else "expected a URL starting with https://"


# PagerDuty's Events API v2 severities; an alert's severity label is mapped onto one of them.
PagerDutySeverity = Literal["critical", "error", "warning", "info"]


def _default_severity_map() -> Mapping[str, PagerDutySeverity]:
    return types.MappingProxyType(
        {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}
    )


def _check_routing_keys(keys: Mapping[str, str]) -> str | None:
    # Names the aliases only: the keys are secrets.
    if not keys:
        return "must not be empty"
    empty = sorted(alias for alias, key in keys.items() if not key.strip())
    return f"empty routing key for {', '.join(empty)}" if empty else None


@dataclass(frozen=True, slots=True)
class PagerDutyChannelConfig:
    """PagerDuty services reached through the Events API v2 (one integration key each)."""

    # Alias -> integration (routing) key. A tier's target names an alias; an empty target
    # means "default". Secret: anyone holding a key can open incidents on that service.
    routing_keys: Mapping[str, str] = field(
        repr=False, metadata={"secret": True, "check": _check_routing_keys}
    )
    # Alert severity label value -> PagerDuty severity; unmapped values get default_severity.
    severity_map: Mapping[str, PagerDutySeverity] = field(default_factory=_default_severity_map)
    default_severity: PagerDutySeverity = "warning"
    severity_label: str = field(default="severity", metadata={"check": not_empty})
    # Labels whose values fill the event's payload.source, component, group and class.
    source_label: str = field(default="instance", metadata={"check": not_empty})
    component_label: str | None = field(default="service", metadata={"check": not_empty})
    group_label: str | None = field(default="job", metadata={"check": not_empty})
    class_label: str | None = field(default="alertname", metadata={"check": not_empty})
    # Annotation holding a Grafana (dashboard) URL, attached as a link next to the runbook.
    dashboard_annotation: str = field(default="dashboard_url", metadata={"check": not_empty})
    # Events per minute per routing key. PagerDuty accepts about 120 a minute per key; this
    # paces below that so a storm is spread out instead of answered with 429s.
    events_per_minute: float = field(default=100.0, metadata={"check": greater_than_zero})
    # How long a routing key rests after PagerDuty answered 429 without a Retry-After.
    throttle_wait: timedelta = field(
        default=timedelta(seconds=30), metadata={"check": positive_duration}
    )
    timeout: timedelta = field(default=timedelta(seconds=10), metadata={"check": positive_duration})
    api_url: str = field(
        default="https://events.pagerduty.com", metadata={"check": _check_https_url}
    )
    ca_file: str | None = field(default=None, metadata={"check": not_empty})  # PEM; else system


# The channel types that take a section of their own, named like the type.
_CHANNEL_SECTIONS = ("email", "webhook", "pagerduty", "slack", "teams")


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One notification channel: its type, the section for that type, and its limits."""

    type: Literal["log", "webhook", "email", "pagerduty", "slack", "teams"]
    email: EmailChannelConfig | None = None
    webhook: WebhookChannelConfig | None = None
    pagerduty: PagerDutyChannelConfig | None = None
    slack: SlackChannelConfig | None = None
    teams: TeamsChannelConfig | None = None
    # A message template (Jinja, docs/templates.md), relative to the configuration file; the
    # channel's built-in layout when not set. Not used by pagerduty and log channels.
    template: str | None = field(default=None, metadata={"check": not_empty})
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """The section named by ``type`` is present (optional for slack, whose channel may
        come from slack.default_channel), and no other type's section is."""
        problems: list[tuple[str, str]] = []
        for section in _CHANNEL_SECTIONS:
            present = getattr(self, section) is not None
            if section == self.type and not present and section != "slack":
                problems.append((join(path, section), f"required when type is {self.type}"))
            elif section != self.type and present:
                problems.append((join(path, section), f"not allowed when type is {self.type}"))
        return problems
