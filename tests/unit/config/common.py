"""What the configuration tests share: the example file, a secret that must never show, and
short ways to parse a document or collect its problems."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from receiver.config import Config, parse_config
from receiver.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "firebreak.example.yml"
SECRET = "s3cr3t-Value-that-must-not-leak"
TOP_LEVEL_KEYS = (
    "alertmanager, api, automation, channels, database, default_route, escalation_policies, "
    "grafana, graphs, heartbeats, include, ingest, jobs, listen, log, maintenance, notifications, "
    "oncall, pagerduty, paging, people, retention, routes, schedules, shutdown_grace, slack, "
    "teams, tls, tracing, watchdog, webhook"
)
HOOK = "type: webhook, webhook: {url: 'https://h'}"


def parse(text: str, env: Mapping[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), source="f.yml", env={} if env is None else env)


def problems(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems
