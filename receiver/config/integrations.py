"""The systems Firebreak talks to besides its channels: Alertmanager's API and the watchdog,
Grafana, OpenTelemetry, the Slack app and PagerDuty's webhooks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from receiver.config.access import BasicAuth
from receiver.config.checks import (
    SLACK_GROUP_ID,
    SLACK_USER_ID,
    check_http_url,
    check_slack_channel,
    greater_than_zero,
    non_negative_duration,
    not_empty,
    positive_duration,
)
from receiver.config.walker import empty_mapping
from receiver.config.yaml import join
from receiver.model import Role

_SLACK_COMMAND = re.compile(r"/[a-z0-9_.-]{1,31}")


def _check_slack_command(value: str) -> str | None:
    if _SLACK_COMMAND.fullmatch(value):
        return None
    return "expected a slash command such as /firebreak (lowercase, at most 32 characters)"


def _check_bot_token(value: str) -> str | None:
    # Never quotes the value: it is a credential.
    return None if value.startswith("xoxb-") else "expected a bot token starting with xoxb-"


@dataclass(frozen=True, slots=True)
class SlackConfig:
    """The Slack app: its credentials, its slash command and who may do what from Slack."""

    bot_token: str = field(repr=False, metadata={"secret": True, "check": _check_bot_token})
    signing_secret: str = field(repr=False, metadata={"secret": True, "check": not_empty})
    command: str = field(default="/firebreak", metadata={"check": _check_slack_command})
    # Request URL for slash commands and interactivity (the app manifest names it).
    path: str = "/slack/events"
    # The Web API base URL; only tests and proxies change it.
    api_url: str = field(default="https://slack.com/api/", metadata={"check": check_http_url})
    default_channel: str | None = field(default=None, metadata={"check": check_slack_channel})
    # Roles by Slack user id (U…) and by user group id (S…); the highest that applies wins.
    users: Mapping[str, Role] = field(default_factory=empty_mapping)
    user_groups: Mapping[str, Role] = field(default_factory=empty_mapping)
    # The role of every other member of the workspace; none means they may not use Firebreak.
    default_role: Role | None = None
    # Runbook name -> user and group ids that may approve its executions.
    runbook_approvers: Mapping[str, tuple[str, ...]] = field(default_factory=empty_mapping)
    # Grafana, linked from each message (an alert's dashboard_url annotation wins).
    grafana_url: str | None = field(default=None, metadata={"check": check_http_url})
    # Slack asks for at most one message a second per channel.
    message_interval: timedelta = field(
        default=timedelta(seconds=1), metadata={"check": positive_duration}
    )
    # How long a user group's membership is trusted before it is asked for again.
    group_cache: timedelta = field(
        default=timedelta(minutes=5), metadata={"check": positive_duration}
    )

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """Ids must be Slack ids of the right kind, the path an absolute URL path."""
        problems: list[tuple[str, str]] = []
        if not self.path.startswith("/"):
            problems.append((join(path, "path"), "expected a path such as /slack/events"))
        elif self.path in ("/webhook", "/health", "/metrics") or self.path.startswith(
            ("/api/", "/health/", "/debug/")
        ):
            problems.append((join(path, "path"), "is one of Firebreak's own paths"))
        for user in self.users:
            if not SLACK_USER_ID.fullmatch(user):
                where = join(join(path, "users"), user)
                problems.append((where, "expected a Slack user id such as U0123ABCD"))
        for group in self.user_groups:
            if not SLACK_GROUP_ID.fullmatch(group):
                where = join(join(path, "user_groups"), group)
                problems.append((where, "expected a Slack user group id such as S0123ABCD"))
        for runbook, ids in self.runbook_approvers.items():
            for index, ident in enumerate(ids):
                if not (SLACK_USER_ID.fullmatch(ident) or SLACK_GROUP_ID.fullmatch(ident)):
                    where = f"{join(join(path, 'runbook_approvers'), runbook)}[{index}]"
                    problems.append((where, "expected a Slack user (U…) or user group (S…) id"))
        return problems


@dataclass(frozen=True, slots=True)
class PagerDutyConfig:
    """What PagerDuty sends back: webhook v3 subscriptions (``/integrations/pagerduty/webhook``)."""

    # Signing secrets of the webhook subscriptions; several while one is being rotated. With
    # none, the endpoint refuses every request.
    webhook_secrets: tuple[str, ...] = field(
        default=(), repr=False, metadata={"secret": True, "check_each": not_empty}
    )
    max_body_bytes: int = field(default=256 * 1024, metadata={"check": greater_than_zero})
    # An event whose occurred_at is further than this from now (either way) is stale: answered
    # 200 and ignored, like a replay, as Slack's signing refuses old requests.
    max_event_age: timedelta = field(
        default=timedelta(minutes=5), metadata={"check": positive_duration}
    )


@dataclass(frozen=True, slots=True)
class AlertmanagerConfig:
    """Alertmanager's v2 API, which Firebreak reads to reconcile its alerts with Alertmanager's
    and to fetch the rest of a truncated webhook's group."""

    url: str = field(metadata={"check": check_http_url})  # e.g. http://127.0.0.1:9093
    # The receiver in alertmanager.yml that posts to Firebreak: only its alerts are compared.
    receiver: str = field(default="firebreak", metadata={"check": not_empty})
    bearer_token: str | None = field(default=None, repr=False, metadata={"secret": True})
    basic_auth: BasicAuth | None = None
    timeout: timedelta = field(default=timedelta(seconds=10), metadata={"check": positive_duration})
    # How often to compare firing alerts with Alertmanager's active ones; 0s turns it off.
    reconcile_interval: timedelta = field(
        default=timedelta(minutes=1), metadata={"check": non_negative_duration}
    )
    # A firing alert Alertmanager no longer has is resolved only once it has not been re-sent
    # for this long, and only by an Alertmanager up at least this long (one just restarted
    # has not heard from Prometheus yet).
    resolve_grace: timedelta = field(
        default=timedelta(minutes=2), metadata={"check": non_negative_duration}
    )
    ca_file: str | None = None

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if self.bearer_token is not None and self.basic_auth is not None:
            return [(join(path, "basic_auth"), "give bearer_token or basic_auth, not both")]
        return []


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    """The dead man's switch: an always-firing alert (Prometheus's ``Watchdog``) must keep
    arriving; when it stops, the monitoring pipeline itself is broken, and Firebreak raises an
    alert of its own through its ordinary routes and escalation policies."""

    alertname: str = field(default="Watchdog", metadata={"check": not_empty})
    # Raise the alert when the watchdog has not arrived for this long. Alertmanager must
    # re-send it more often (a route for it with a short repeat_interval).
    timeout: timedelta = field(default=timedelta(minutes=10), metadata={"check": positive_duration})
    check_interval: timedelta = field(
        default=timedelta(seconds=30), metadata={"check": positive_duration}
    )
    # Labels of the alert raised; alertname and severity unless overridden.
    labels: Mapping[str, str] = field(default_factory=empty_mapping)


@dataclass(frozen=True, slots=True)
class GrafanaConfig:
    """Grafana's HTTP API, for annotations: alerts fired and resolved, runbooks started and
    finished, marked on the dashboards' graphs."""

    url: str = field(metadata={"check": check_http_url})  # e.g. http://127.0.0.1:3000
    # A service account token with the annotations:write permission.
    token: str = field(repr=False, metadata={"secret": True, "check": not_empty})
    timeout: timedelta = field(default=timedelta(seconds=10), metadata={"check": positive_duration})
    tags: tuple[str, ...] = ("firebreak",)  # on every annotation, for the dashboards' queries


@dataclass(frozen=True, slots=True)
class GraphsConfig:
    """Graphs of an alert's expression over the last hour, drawn from Prometheus'
    ``query_range`` into the first Slack message's thread and the e-mail (docs/graphs.md).

    The expression comes from the alert's ``generatorURL`` (its ``g0.expr``); the Prometheus it
    is asked of is always this one, never the URL's host."""

    prometheus_url: str = field(metadata={"check": check_http_url})  # e.g. http://127.0.0.1:9090
    bearer_token: str | None = field(default=None, repr=False, metadata={"secret": True})
    basic_auth: BasicAuth | None = None
    ca_file: str | None = None
    # Prometheus' answer, the whole request; also handed to Prometheus as its query timeout.
    timeout: timedelta = field(default=timedelta(seconds=5), metadata={"check": positive_duration})
    # How far back the graph reaches from the moment it is drawn.
    range: timedelta = field(default=timedelta(hours=1), metadata={"check": positive_duration})
    # Points per series across the range (the query's step is range / points).
    points: int = field(default=240, metadata={"check": greater_than_zero})
    # Series drawn; the rest are counted in the legend.
    max_series: int = field(default=10, metadata={"check": greater_than_zero})
    # An expression longer than this is not graphed.
    max_expression_chars: int = field(default=4096, metadata={"check": greater_than_zero})
    # Prometheus' answer read at most; a larger one is not graphed.
    max_response_bytes: int = field(default=4 * 1024 * 1024, metadata={"check": greater_than_zero})
    # The PNG's size at most; a larger one is not sent.
    max_image_bytes: int = field(default=512 * 1024, metadata={"check": greater_than_zero})

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if self.bearer_token is not None and self.basic_auth is not None:
            problems.append((join(path, "basic_auth"), "give bearer_token or basic_auth, not both"))
        # Prometheus refuses a range query of more than 11,000 points per series.
        if self.points > 11_000:
            problems.append((join(path, "points"), "must be at most 11000 (Prometheus' limit)"))
        if self.range < timedelta(seconds=self.points):
            problems.append((join(path, "range"), "must be at least one second per point"))
        return problems


def _check_ratio(value: float) -> str | None:
    return None if 0 <= value <= 1 else "must be between 0 and 1"


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """OpenTelemetry traces of each alert's path, exported over OTLP/HTTP (needs the
    ``firebreak[tracing]`` extra)."""

    endpoint: str = field(metadata={"check": check_http_url})  # e.g. http://127.0.0.1:4318
    service_name: str = field(default="firebreak", metadata={"check": not_empty})
    sample_ratio: float = field(default=1.0, metadata={"check": _check_ratio})
