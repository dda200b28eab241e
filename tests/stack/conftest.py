"""What the monitoring-stack tests share: where the files are, and the Prometheus binaries."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from examples.demo_app.metrics import DemoMetrics
from receiver.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "rules"
RULE_TESTS_DIR = RULES_DIR / "tests"
PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"
COMPOSE_PROMETHEUS_CONFIG = ROOT / "prometheus" / "compose" / "prometheus.yml"
COMPOSE_ALERTMANAGER_CONFIG = ROOT / "alertmanager" / "compose" / "alertmanager.yml"
DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"


# Metrics the rules and dashboards use that this branch's Firebreak does not export yet: the
# runbook automation adds firebreak_runbook_executions_total{runbook, outcome}.
NOT_YET_EXPORTED = {"firebreak_runbook_executions_total"}


def rule_files() -> list[Path]:
    """The files prometheus.yml loads (``rules/*.yml``)."""
    return sorted(RULES_DIR.glob("*.yml"))


def rules() -> list[dict[str, Any]]:
    """Every rule of every rule file, each with ``file`` and ``group`` added."""
    found = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found.append({**rule, "file": path.name, "group": group["name"]})
    return found


def _binary(name: str, package: str = "prometheus") -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} is not installed (it comes with Debian's {package} package); install it "
            "with `scripts/system-deps.sh test`"
        )
    return found


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _binary("prometheus")


@pytest.fixture(scope="session")
def amtool_bin() -> str:
    return _binary("amtool", "prometheus-alertmanager")


def dashboards() -> dict[str, dict[str, Any]]:
    """Each dashboard JSON in grafana/dashboards/, by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) for every query of every panel."""
    return [
        (name, panel["title"], target["expr"])
        for name, dashboard in dashboards().items()
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


# What Grafana puts in place of its variables, for evaluating the queries against a
# Prometheus that has run for seconds, not hours.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1s",
    "$__range": "1h",
}


def substitute(expr: str, job: str) -> str:
    """A dashboard query as Grafana would send it, for the given $job."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr.replace("$job", job)


def metric_names(expr: str) -> set[str]:
    """The Firebreak and demo metric names a PromQL expression reads (not recording rules)."""
    return set(re.findall(r"(?<![:\w])((?:firebreak|demo)_[a-z_]+)\b", expr))


def exported_metrics() -> set[str]:
    """Every series name Firebreak and the demo service export, histogram and counter
    suffixes included."""
    registry = CollectorRegistry()
    Metrics(registry)
    DemoMetrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        suffixes = {"counter": ("total",), "histogram": ("bucket", "count", "sum")}
        names.update(f"{family.name}_{s}" for s in suffixes.get(family.type, ()))
    return names
