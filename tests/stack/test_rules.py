"""rules/ and prometheus/: promtool accepts them, their unit tests pass, and every alert
carries what routes, runbooks and people need."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from examples.demo_app.metrics import LATENCY_BUCKETS as DEMO_LATENCY_BUCKETS
from receiver.metrics import _LATENCY_BUCKETS
from tests.e2e.conftest import SHIPPED_ALERTMANAGER_CONFIG
from tests.stack.conftest import (
    COMPOSE_ALERTMANAGER_CONFIG,
    COMPOSE_PROMETHEUS_CONFIG,
    NOT_YET_EXPORTED,
    PROMETHEUS_CONFIG,
    RULE_TESTS_DIR,
    RULES_DIR,
    exported_metrics,
    metric_names,
    rule_files,
    rules,
)

SEVERITIES = {"critical", "warning", "none"}


def promtool(promtool_bin: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool_bin, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=RULES_DIR.parent,
    )


def alerts() -> list[dict[str, object]]:
    return [rule for rule in rules() if "alert" in rule]


def test_promtool_checks_the_rules(promtool_bin: str) -> None:
    result = promtool(promtool_bin, "check", "rules", *rule_files())
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "config", [PROMETHEUS_CONFIG, COMPOSE_PROMETHEUS_CONFIG], ids=lambda p: p.parent.name
)
def test_promtool_checks_the_prometheus_config(promtool_bin: str, config: Path) -> None:
    result = promtool(promtool_bin, "check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_loopback_config_loads_every_rule_file(promtool_bin: str) -> None:
    result = promtool(promtool_bin, "check", "config", PROMETHEUS_CONFIG)
    for path in rule_files():
        assert str(path.relative_to(RULES_DIR.parent)) in result.stdout + result.stderr, path


def test_rule_unit_tests_pass(promtool_bin: str) -> None:
    result = promtool(promtool_bin, "test", "rules", *sorted(RULE_TESTS_DIR.glob("*.test.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_file_and_alert_has_unit_tests() -> None:
    tested_files: set[str] = set()
    firing: set[str] = set()
    for path in RULE_TESTS_DIR.glob("*.test.yml"):
        spec = yaml.safe_load(path.read_text())
        tested_files.update((path.parent / f).resolve().name for f in spec["rule_files"])
        for test in spec["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    firing.add(case["alertname"])
    assert {p.name for p in rule_files()} <= tested_files
    assert {str(a["alert"]) for a in alerts()} <= firing, "alerts never tested firing"


def test_every_alert_has_routing_labels_and_a_runbook() -> None:
    runbooks = (RULES_DIR / "RUNBOOKS.md").read_text()
    anchors = {h.strip().lower() for h in re.findall(r"^## (.+)$", runbooks, re.MULTILINE)}
    for alert in alerts():
        name = alert["alert"]
        labels = alert.get("labels") or {}
        annotations = alert.get("annotations") or {}
        assert isinstance(labels, dict) and isinstance(annotations, dict)
        assert {"service", "team", "severity"} <= labels.keys(), name
        assert labels["severity"] in SEVERITIES, name
        assert annotations.get("summary") and annotations.get("description"), name
        url = str(annotations.get("runbook_url", ""))
        assert url == f"rules/RUNBOOKS.md#{str(name).lower()}", name
        assert str(name).lower() in anchors, f"{name} has no section in rules/RUNBOOKS.md"


def test_watchdog_always_fires_with_severity_none() -> None:
    (watchdog,) = [a for a in alerts() if a["alert"] == "Watchdog"]
    assert watchdog["expr"] == "vector(1)"
    assert watchdog["labels"]["severity"] == "none"
    assert "for" not in watchdog


def test_the_runbook_alert_is_in_its_own_file() -> None:
    for rule in rules():
        uses = "firebreak_runbook_executions_total" in str(rule["expr"])
        assert uses == (rule["file"] == "firebreak-runbooks.yml"), rule.get(
            "alert", rule.get("record")
        )


def test_rules_use_only_metrics_that_exist() -> None:
    exported = exported_metrics() | NOT_YET_EXPORTED
    for rule in rules():
        missing = metric_names(str(rule["expr"])) - exported
        assert not missing, f"{rule.get('alert', rule.get('record'))} uses {missing}"


def test_latency_slos_count_an_existing_bucket() -> None:
    for rule in rules():
        expr = str(rule["expr"])
        for metric, le in re.findall(r"(\w+)_bucket\{[^}]*le=\"([^\"]+)\"", expr):
            buckets = _LATENCY_BUCKETS if metric.startswith("firebreak_") else DEMO_LATENCY_BUCKETS
            assert float(le) in buckets, f"{metric} has no bucket le={le}"


@pytest.mark.parametrize("config", [SHIPPED_ALERTMANAGER_CONFIG, COMPOSE_ALERTMANAGER_CONFIG])
def test_alertmanager_sends_the_watchdog_to_firebreak_every_minute(config: Path) -> None:
    route = yaml.safe_load(config.read_text())["route"]
    (watchdog,) = [r for r in route["routes"] if r["matchers"] == ['alertname="Watchdog"']]
    assert watchdog["receiver"] == "firebreak"
    assert watchdog["repeat_interval"] == watchdog["group_interval"] == "1m"
    assert not watchdog.get("continue")
