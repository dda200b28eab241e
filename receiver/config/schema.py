"""The whole configuration file: ``Config`` and the sections of Firebreak's own running
(database, log, ingest, jobs, retention, TLS); the other sections are in ``access``,
``channels``, ``policies``, ``integrations`` and ``automation``.

The frozen dataclasses are the schema: ``receiver.config.walker`` reads their type hints and
field metadata, so a new key is a new field and a new section a new dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from receiver.config.access import ApiConfig, PersonConfig, WebhookConfig
from receiver.config.automation import AutomationConfig
from receiver.config.channels import ChannelConfig
from receiver.config.checks import (
    PATTERNS,
    at_least_zero,
    check_http_url,
    check_listen,
    greater_than_zero,
    non_negative_duration,
    not_empty,
    positive_duration,
    split_listen,
)
from receiver.config.heartbeats import (
    WATCHDOG_HEARTBEAT,
    HeartbeatConfig,
    check_heartbeat_names,
    every_heartbeat,
)
from receiver.config.integrations import (
    AlertmanagerConfig,
    GrafanaConfig,
    GraphsConfig,
    PagerDutyConfig,
    SlackConfig,
    TracingConfig,
    WatchdogConfig,
)
from receiver.config.maintenance import MaintenanceWindowConfig
from receiver.config.oncall import OnCallConfig, ScheduleConfig, TeamConfig
from receiver.config.policies import (
    DefaultRouteConfig,
    EscalationPolicyConfig,
    PagingConfig,
    RouteConfig,
    builtin_channels,
    builtin_policies,
)
from receiver.config.walker import empty_mapping
from receiver.config.yaml import join
from receiver.durations import format_duration

_DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


def _check_database_url(url: str) -> str | None:
    if url.startswith(_DATABASE_SCHEMES):
        return None
    return f"expected a URL starting with {' or '.join(_DATABASE_SCHEMES)}"


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Where alerts are stored."""

    # Secret because a PostgreSQL URL usually carries the password.
    url: str = field(
        default="sqlite+aiosqlite:///firebreak.db",
        repr=False,
        metadata={"secret": True, "check": _check_database_url},
    )
    # SQLite's PRAGMA synchronous: "full" is the one that survives a power loss after a commit.
    sqlite_synchronous: Literal["full", "normal", "off"] = "full"
    pool_size: int = field(default=10, metadata={"check": greater_than_zero})  # PostgreSQL only


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Logging."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    file: str | None = field(default=None, metadata={"check": not_empty})  # JSON, size-rotated
    file_max_bytes: int = field(default=10 * 1024 * 1024, metadata={"check": greater_than_zero})
    file_backups: int = field(default=5, metadata={"check": at_least_zero})
    access: bool = False  # one line per HTTP request


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """How webhooks are written to the store."""

    # Most alerts committed in one group-commit transaction.
    max_batch_alerts: int = field(default=5000, metadata={"check": greater_than_zero})
    # Under load (the previous commit carried at least commit_siblings webhooks), how long at
    # most the next commit waits for the senders of the last one to send again, so that they
    # share it (receiver/ingest.py). An idle receiver never waits.
    commit_delay: timedelta = timedelta(milliseconds=2)
    commit_siblings: int = field(default=8, metadata={"check": greater_than_zero})


def _check_link_secret(secret: str) -> str | None:
    return (
        None if len(secret) >= 32 else "expected at least 32 characters (try: openssl rand -hex 32)"
    )


@dataclass(frozen=True, slots=True)
class AcknowledgeLinksConfig:
    """Signed links in Teams cards and e-mail that acknowledge an alert from a confirmation
    page (docs/teams.md, "One-click acknowledge")."""

    # HMAC-SHA256 key the links are signed with; changing it voids every link sent.
    secret: str = field(repr=False, metadata={"secret": True, "check": _check_link_secret})
    # How long a link works after its notice was sent.
    ttl: timedelta = field(default=timedelta(hours=12), metadata={"check": positive_duration})


@dataclass(frozen=True, slots=True)
class NotificationsConfig:
    """How notices are put together."""

    # Alerts of one Alertmanager group notified within this window go out as one message per
    # channel and target.
    group_window: timedelta = timedelta(seconds=2)
    # A later tier's notice waits behind an earlier tier's still on its way to another channel
    # or target for this long at most (from when its tier fell due): long enough for a blip,
    # the breaker's cool-down it opens (a minute by default) and the probe after it; short
    # enough that a dead channel delays the next tier's page by no more. 0s: it waits only
    # behind notices to its own channel and target.
    tier_order_wait: timedelta = field(
        default=timedelta(minutes=2), metadata={"check": non_negative_duration}
    )
    # Firebreak as the people paged reach it (https://firebreak.example.com): the base of the
    # console links and acknowledge links in Teams cards and e-mail. None leaves them out.
    external_url: str | None = field(default=None, metadata={"check": check_http_url})
    acknowledge_links: AcknowledgeLinksConfig | None = None

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """Links need an address to point at."""
        if self.acknowledge_links is not None and self.external_url is None:
            return [(join(path, "acknowledge_links"), "needs notifications.external_url")]
        return []


@dataclass(frozen=True, slots=True)
class JobsConfig:
    """The durable job queue that escalation and notification run on."""

    workers: int = field(default=16, metadata={"check": greater_than_zero})  # per process
    # A running job whose worker vanished is claimed again after this.
    lease: timedelta = field(default=timedelta(seconds=60), metadata={"check": positive_duration})
    # Attempts before a job is dead-lettered.
    max_attempts: int = field(default=10, metadata={"check": greater_than_zero})
    backoff_initial: timedelta = field(
        default=timedelta(seconds=1), metadata={"check": positive_duration}
    )
    backoff_max: timedelta = field(
        default=timedelta(minutes=5), metadata={"check": positive_duration}
    )
    # How often to look for jobs that other replicas enqueued.
    poll_interval: timedelta = field(
        default=timedelta(seconds=5), metadata={"check": positive_duration}
    )

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        """The backoff may not start above its own ceiling."""
        if self.backoff_max >= self.backoff_initial:
            return []
        minimum = format_duration(self.backoff_initial)
        return [(join(path, "backoff_max"), f"must be at least backoff_initial ({minimum})")]


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """HTTPS served by Firebreak itself; the files are read again on SIGHUP."""

    cert_file: str = field(metadata={"check": not_empty})  # PEM, the chain after the cert
    key_file: str = field(metadata={"check": not_empty})


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long finished things are kept: resolved alerts with their history, done jobs and
    the record of webhooks. Dead-lettered jobs and firing alerts are never purged."""

    # 0s keeps everything.
    period: timedelta = field(default=timedelta(days=90), metadata={"check": non_negative_duration})
    interval: timedelta = field(default=timedelta(hours=1), metadata={"check": positive_duration})
    # Rows per delete: each batch is its own short transaction.
    batch_size: int = field(default=1000, metadata={"check": greater_than_zero})


INCLUDE_METADATA: Mapping[str, Any] = {"shorthand": PATTERNS, "check_each": not_empty}


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration file."""

    listen: str = field(default="127.0.0.1:9095", metadata={"check": check_listen})
    # On SIGTERM: stop accepting, finish what is in flight, hand back job leases, exit; a job
    # still running after this is cut off (its lease handed back, so it runs again elsewhere).
    shutdown_grace: timedelta = field(
        default=timedelta(seconds=10), metadata={"check": positive_duration}
    )
    tls: TlsConfig | None = None
    grafana: GrafanaConfig | None = None
    # Graphs of alerts' expressions in Slack threads and e-mail (docs/graphs.md).
    graphs: GraphsConfig | None = None
    tracing: TracingConfig | None = None
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    log: LogConfig = field(default_factory=LogConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    # Glob patterns of files that define more channels, policies and routes.
    include: tuple[str, ...] = field(default=(), metadata=INCLUDE_METADATA)
    # Always hold LOG_CHANNEL and DEFAULT_POLICY, unless the files define their own.
    channels: Mapping[str, ChannelConfig] = field(default_factory=builtin_channels)
    escalation_policies: Mapping[str, EscalationPolicyConfig] = field(
        default_factory=builtin_policies
    )
    # Every file's routes: this file's first, then each included file's, in include order.
    routes: tuple[RouteConfig, ...] = ()
    default_route: DefaultRouteConfig = field(default_factory=DefaultRouteConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    alertmanager: AlertmanagerConfig | None = None
    watchdog: WatchdogConfig | None = None
    # Cron jobs, batch runs and backups that report in (docs/heartbeats.md).
    heartbeats: Mapping[str, HeartbeatConfig] = field(
        default_factory=empty_mapping, metadata={"check": check_heartbeat_names}
    )
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    pagerduty: PagerDutyConfig = field(default_factory=PagerDutyConfig)
    automation: AutomationConfig = field(default_factory=AutomationConfig)
    slack: SlackConfig | None = None
    # Who is who across interfaces (API tokens and Slack users name a person of it).
    people: tuple[PersonConfig, ...] = ()
    # Who answers for what together, and who is on call when (docs/oncall.md).
    teams: tuple[TeamConfig, ...] = ()
    schedules: tuple[ScheduleConfig, ...] = ()
    oncall: OnCallConfig = field(default_factory=OnCallConfig)
    # The channels that reach a person a tier pages.
    paging: PagingConfig = field(default_factory=PagingConfig)
    # Maintenance windows: matching alerts are held back from escalation and runbooks
    # (docs/maintenance.md); more are made at run time.
    maintenance: tuple[MaintenanceWindowConfig, ...] = ()
    source: str = field(default="<config>", metadata={"internal": True})  # the file it came from
    # The included files, in the order they were loaded (as paths from the working directory).
    included: tuple[str, ...] = field(default=(), metadata={"internal": True})
    # What set ``listen``: the file's key, or an override (--listen, FIREBREAK_LISTEN) that a
    # reload of the file keeps.
    listen_from: str = field(default="listen", metadata={"internal": True})

    @property
    def every_heartbeat(self) -> Mapping[str, HeartbeatConfig]:
        """``heartbeats`` and, when ``watchdog`` is configured, the heartbeat it stands for."""
        return every_heartbeat(self.heartbeats, self.watchdog)

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if self.watchdog is not None and WATCHDOG_HEARTBEAT in self.heartbeats:
            where = join(join(path, "heartbeats"), WATCHDOG_HEARTBEAT)
            return [(where, "the watchdog section is this heartbeat already; keep one of them")]
        return []

    @property
    def listen_host(self) -> str:
        """The host part of ``listen``, without the brackets of an IPv6 address."""
        return self._listen_parts()[0]

    @property
    def listen_port(self) -> int:
        """The port part of ``listen``."""
        return self._listen_parts()[1]

    def _listen_parts(self) -> tuple[str, int]:
        split = split_listen(self.listen)
        if split is None:
            raise ValueError(f"listen: expected host:port, got {self.listen!r}")
        return split
