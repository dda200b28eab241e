"""runbooks/ against rules/: every runbook that starts by itself matches an alert a shipped
rule can fire (its alertname and the static labels the rule sets), every other one says it is
manual-only, the demo's alerts have runbooks, and no label reaches a runbook unchecked. The
runbooks are read with Firebreak's own loader, the rules with PyYAML."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from receiver.automation.definitions import RunbookConfig, Runbooks, load_runbooks
from receiver.config import parse_config
from receiver.matchers import matches_all
from tests.stack.conftest import ROOT, rules

RUNBOOKS_DIR = ROOT / "runbooks"


def shipped_runbooks() -> Runbooks:
    config = parse_config(
        f'automation: {{runbooks: ["{RUNBOOKS_DIR}/*.yml"], '
        'prometheus_url: "http://127.0.0.1:9090", alertmanager_url: "http://127.0.0.1:9093"}\n',
        env={},
    )
    return load_runbooks(config, env={})


def fired_label_sets() -> list[dict[str, str]]:
    """What each alerting rule's alerts carry for sure: alertname and its static labels."""
    return [
        {"alertname": str(rule["alert"]), **{k: str(v) for k, v in rule.get("labels", {}).items()}}
        for rule in rules()
        if "alert" in rule
    ]


RUNBOOKS = list(shipped_runbooks())


def _leading_comment(runbook: RunbookConfig) -> str:
    lines = Path(runbook.source).read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith("#"))


def test_the_loader_reads_every_runbook_file() -> None:
    assert sorted(rb.id for rb in RUNBOOKS) == sorted(p.stem for p in RUNBOOKS_DIR.glob("*.yml"))


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda rb: rb.id)
def test_a_runbook_starts_by_itself_only_for_an_alert_a_shipped_rule_fires(
    runbook: RunbookConfig,
) -> None:
    matchers = runbook.matchers()
    fired = [labels for labels in fired_label_sets() if matches_all(matchers, labels)]
    if runbook.automatic and runbook.match:
        assert fired, f"{runbook.id} starts on {list(runbook.match)}, which no rule fires"
        return
    # Manual-only: it never starts by itself, and its file says so (and why) up front.
    assert not runbook.automatic or not runbook.match
    if runbook.match and not fired:
        assert "Manual-only:" in _leading_comment(runbook), runbook.id


def test_the_dead_letter_runbook_matches_the_dead_letter_alert() -> None:
    (recovery,) = [rb for rb in RUNBOOKS if rb.id == "dead-letter-recovery"]
    (dead_lettered,) = [
        labels
        for labels in fired_label_sets()
        if labels["alertname"] == "FirebreakJobsDeadLettered"
    ]
    assert recovery.automatic and matches_all(recovery.matchers(), dead_lettered)


@pytest.mark.parametrize(
    "alertname", ["DemoHighErrorRatio", "DemoLatencySLOBurn", "DemoQueueDepthClimbing"]
)
def test_each_demo_alert_with_a_remedy_starts_a_runbook(alertname: str) -> None:
    (labels,) = [ls for ls in fired_label_sets() if ls["alertname"] == alertname]
    started = Runbooks({rb.id: rb for rb in RUNBOOKS}).matching(labels, "firing")
    assert len(started) == 1, (alertname, [rb.id for rb in started])
    (runbook,) = started
    assert runbook.steps[0].http is not None and runbook.steps[-1].promql is not None


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda rb: rb.id)
def test_no_label_reaches_a_runbook_unchecked(runbook: RunbookConfig) -> None:
    """A param read from a label, or one a person may set, is of a narrow type or has a
    pattern: nothing an exporter or a relabel rule writes lands in a step as it came."""
    for name, spec in runbook.params.items():
        outside = spec.settable or (spec.source is not None and spec.source[0] != "trigger_context")
        if outside and spec.type == "string":
            assert spec.pattern is not None, f"{runbook.id}: params.{name} has no pattern"


# Where a value picks a destination, a program's options, a query or what a silence covers.
_SINKS = ("url", "argv", "query", "match", "headers")
_FROM_THE_ALERT = re.compile(r"\{\{[^}]*\b(labels|annotations|alert)\b")


def _sink_strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _sink_strings(v, str(k) if str(k) in _SINKS else key)
    elif isinstance(node, list):
        for item in node:
            yield from _sink_strings(item, key)
    elif isinstance(node, str) and key:
        yield key, node


@pytest.mark.parametrize("path", sorted(RUNBOOKS_DIR.glob("*.yml")), ids=lambda p: p.stem)
def test_steps_take_the_alert_only_through_params(path: Path) -> None:
    """No shipped step writes a label or an annotation straight into a URL, an argv, a query,
    a silence matcher or a header: they reach those only through a typed, checked param."""
    steps = yaml.safe_load(path.read_text()).get("steps", [])
    found = [(k, s) for k, s in _sink_strings(steps) if _FROM_THE_ALERT.search(s)]
    assert found == [], f"{path.name}: {found}"
