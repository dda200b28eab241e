"""Firebreak's configuration: one YAML file, plus the files it includes, loaded into frozen
dataclasses.

Split by concern, each module importing only those before it:

- ``yaml``: YAML as Firebreak reads it, and the line and column of each key path;
- ``problems``, ``env``: what loading stages share; ``${VAR}`` expansion;
- ``walker``: parsed YAML into the schema's dataclasses (``from_data``, ``Shorthand``), by
  their type hints and field metadata;
- ``checks``: field checks and short forms the sections share;
- the schema: ``access``, ``channels``, ``policies``, ``integrations``, ``automation``, and
  ``schema`` (``Config`` and Firebreak's own running);
- ``references``: checks across sections and files; ``secrets``: weak secrets;
- ``load``: ``load_config`` and ``parse_config``, includes and assembly;
- ``lookup``: which file a command reads, and what overrides ``listen``.

What the rest of Firebreak uses is importable from here (``from receiver.config import Config,
load_config``); helpers are imported from the module they live in.
"""

from __future__ import annotations

from receiver.config.access import (
    ApiConfig,
    ApiToken,
    BasicAuth,
    PersonConfig,
    WebhookAuth,
    WebhookConfig,
)
from receiver.config.automation import AutomationConfig, ShellLimits
from receiver.config.channels import (
    BreakerConfig,
    ChannelConfig,
    EmailChannelConfig,
    PagerDutyChannelConfig,
    PagerDutySeverity,
    RateLimitConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)
from receiver.config.heartbeats import HeartbeatConfig
from receiver.config.integrations import (
    AlertmanagerConfig,
    GrafanaConfig,
    GraphsConfig,
    PagerDutyConfig,
    SlackConfig,
    TracingConfig,
    WatchdogConfig,
)
from receiver.config.load import load_config, parse_config
from receiver.config.maintenance import MaintenanceWindowConfig
from receiver.config.oncall import (
    LayerConfig,
    OnCallConfig,
    RestrictionConfig,
    ScheduleConfig,
    TeamConfig,
)
from receiver.config.policies import (
    DEFAULT_POLICY,
    LOG_CHANNEL,
    PEOPLE_KINDS,
    DefaultRouteConfig,
    EscalationPolicyConfig,
    NotifyTarget,
    PagingConfig,
    RouteConfig,
    TierConfig,
)
from receiver.config.schema import (
    Config,
    DatabaseConfig,
    IngestConfig,
    JobsConfig,
    LogConfig,
    NotificationsConfig,
    RetentionConfig,
    TlsConfig,
)
from receiver.config.secrets import weak_secret_warnings, weak_secrets_for_listen
from receiver.config.walker import Shorthand, from_data

__all__ = [
    "DEFAULT_POLICY",
    "LOG_CHANNEL",
    "PEOPLE_KINDS",
    "AlertmanagerConfig",
    "ApiConfig",
    "ApiToken",
    "AutomationConfig",
    "BasicAuth",
    "BreakerConfig",
    "ChannelConfig",
    "Config",
    "DatabaseConfig",
    "DefaultRouteConfig",
    "EmailChannelConfig",
    "EscalationPolicyConfig",
    "GrafanaConfig",
    "GraphsConfig",
    "HeartbeatConfig",
    "IngestConfig",
    "JobsConfig",
    "LayerConfig",
    "LogConfig",
    "MaintenanceWindowConfig",
    "NotificationsConfig",
    "NotifyTarget",
    "OnCallConfig",
    "PagerDutyChannelConfig",
    "PagerDutyConfig",
    "PagerDutySeverity",
    "PagingConfig",
    "PersonConfig",
    "RateLimitConfig",
    "RestrictionConfig",
    "RetentionConfig",
    "RouteConfig",
    "ScheduleConfig",
    "ShellLimits",
    "Shorthand",
    "SlackChannelConfig",
    "SlackConfig",
    "TeamConfig",
    "TierConfig",
    "TlsConfig",
    "TracingConfig",
    "WatchdogConfig",
    "WebhookAuth",
    "WebhookChannelConfig",
    "WebhookConfig",
    "from_data",
    "load_config",
    "parse_config",
    "weak_secret_warnings",
    "weak_secrets_for_listen",
]
