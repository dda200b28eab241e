"""Runbook definitions: every problem named by file and key path, templates checked at load,
and the sandbox that keeps templates away from Python's internals."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.automation.definitions import (
    Runbooks,
    load_runbooks,
    parse_condition,
    parse_runbook,
)
from receiver.automation.params import redact
from receiver.automation.templating import TemplateFailure, evaluate, render, render_value
from receiver.config import load_config, parse_config
from receiver.errors import ConfigError

GOOD = """
id: restart
title: Restart
match: ['alertname="HighErrorRate"', 'severity=~"critical|page"']
params:
  service: {from: labels.service, required: true}
  replicas: {type: int, default: 2}
steps:
  - id: restart
    http: {method: POST, url: "http://svc/{{ params.service }}/restart", body: {n: 1}}
    rollback: {http: {method: POST, url: "http://svc/undo"}}
  - id: check
    promql: {query: "up", expect: ">= 1"}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_runbook(text, source="rb.yml", env={})
    return caught.value.problems


def test_a_valid_runbook_loads_with_its_types() -> None:
    rb = parse_runbook(GOOD, source="rb.yml", env={})
    assert [s.type for s in rb.steps] == ["http", "promql"]
    assert rb.steps[0].is_mutating and not rb.steps[1].is_mutating
    assert rb.steps[0].rollback is not None and rb.steps[0].rollback.id == "restart.rollback"
    assert rb.steps[0].http is not None and rb.steps[0].http.body == {"n": 1}
    books = Runbooks({rb.id: rb})
    labels = {"alertname": "HighErrorRate", "severity": "page"}
    assert [r.id for r in books.matching(labels, "firing")] == ["restart"]
    assert books.matching(labels, "resolved") == []
    assert books.matching({**labels, "severity": "info"}, "firing") == []


def test_every_problem_is_named_by_key_path() -> None:
    found = problems(
        """
id: Bad Id
match: 'alertname=~"("'
on: sometimes
params: {n: {type: integer}}
steps:
  - id: a
  - id: b
    wait: {duration: 1s}
    shell: {argv: [echo]}
  - id: c
    shell: {argv: ["{{ oops"]}
    when: "steps.a =="
    on_failure: explode
  - id: d
    http: {url: "http://x", method: FETCH}
  - id: e
    promql: {query: up, expect: "about 3"}
"""
    )
    text = "\n".join(found)
    assert "rb.yml:2:1: id: expected lower-case letters" in text
    assert "rb.yml:2:1: title: required key is missing" in text
    assert "rb.yml:3:1: match:" in text
    assert "rb.yml:4:1: on: expected one of firing, resolved, both" in text
    assert "rb.yml:5:14: params.n.type: expected one of string, int, float, bool" in text
    assert "rb.yml:7:5: steps[0]: expected exactly one of http, shell" in text
    assert "rb.yml:8:5: steps[1]: expected exactly one of" in text and "got shell, wait" in text
    assert "rb.yml:14:5: steps[2].on_failure: expected one of abort, continue, rollback" in text
    assert "rb.yml: steps[3].method: expected one of GET" in text or "steps[3].http.method" in text
    assert "rb.yml:18:25: steps[4].promql.expect: expected a comparison" in text


def test_templates_and_conditions_are_checked_at_load() -> None:
    found = problems(
        """
id: t
title: T
steps:
  - id: c
    shell: {argv: ["{{ oops"]}
    when: "steps.a =="
  - id: c
    wait: {duration: 1s}
"""
    )
    text = "\n".join(found)
    assert "rb.yml:7:5: steps[0].when: expression syntax error" in text
    assert "rb.yml:6:20: steps[0].shell.argv[0]: template syntax error" in text


def test_duplicate_step_ids() -> None:
    found = problems(
        "id: t\ntitle: T\nsteps:\n  - {id: a, wait: {duration: 1s}}\n"
        "  - {id: a, wait: {duration: 1s}}\n"
    )
    assert found == ["rb.yml:5:6: steps[1].id: duplicates steps[0].id"]


def test_a_runbook_cannot_hand_an_action_its_context() -> None:
    found = problems(
        "id: t\ntitle: T\nsteps:\n"
        "  - {id: a, python: {function: f, args: {firebreak: '{{ labels.x }}'}}}\n"
    )
    assert found == [
        "rb.yml:4:42: steps[0].python.args.firebreak: is Firebreak's own: the action gets its "
        "context from the server, never from a runbook"
    ]


def test_load_runbooks_checks_them_against_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "a.yml").write_text(GOOD)
    (tmp_path / "runbooks" / "b.yml").write_text(GOOD)
    (tmp_path / "runbooks" / "c.yml").write_text(
        "id: slow\ntitle: Slow\nsteps:\n  - {id: s, shell: {argv: [sleep, '1']}, timeout: 2m}\n"
        "  - {id: q, silence: {}}\n"
    )
    config = tmp_path / "firebreak.yml"
    config.write_text("automation: {runbooks: 'runbooks/*.yml'}\n")
    with pytest.raises(ConfigError) as caught:
        load_runbooks(load_config(config, env={}), env={})
    problems = caught.value.problems
    b, c = tmp_path / "runbooks" / "b.yml", tmp_path / "runbooks" / "c.yml"
    assert f"{b}:2:1: id: duplicates the runbook in {tmp_path / 'runbooks' / 'a.yml'}" in problems
    assert f"{c}:5:13: steps[1].silence: needs automation.alertmanager_url" in problems
    # A step may run longer than jobs.lease: the runner renews the lease while it runs.
    assert [p for p in problems if p.startswith(f"{c}:")] == [
        f"{c}:5:13: steps[1].silence: needs automation.alertmanager_url"
    ]


def test_the_example_configuration_and_runbooks_are_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "firebreak.example.yml", env={})
    books = load_runbooks(config, env={})
    assert len(books) >= 6


def test_the_sandbox_refuses_python_internals() -> None:
    scope = {"labels": {"service": "x"}}
    for attack in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ labels.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% set x = labels.update({'a': 1}) %}",
    ):
        with pytest.raises(TemplateFailure):
            render(attack, scope, "argv[1]")
    with pytest.raises(TemplateFailure, match="argv: template error: 'nope' is undefined"):
        render("{{ nope }}", scope, "argv")
    assert render("{{ labels.service | upper }}", scope) == "X"
    assert render_value({"a": ["{{ labels.service }}", 1]}, scope) == {"a": ["x", 1]}
    assert evaluate("labels.service == 'x'", scope) is True


def test_conditions() -> None:
    assert parse_condition("< 0.01") is not None
    cond = parse_condition("<0.01")
    assert cond is not None and cond.holds(0.001) and not cond.holds(0.5)
    empty = parse_condition("empty")
    assert empty is not None and empty.holds(None) and not empty.holds(0)
    assert parse_condition("roughly 3") is None


def test_secret_values_are_redacted_wherever_they_appear() -> None:
    stored = redact(
        {"url": "http://x?t=hunter2", "headers": {"X-Api-Key": "k"}}, frozenset({"hunter2"})
    )
    assert stored == {"url": "http://x?t=<redacted>", "headers": {"X-Api-Key": "<redacted>"}}


def test_automation_config_keys() -> None:
    config = parse_config(
        "automation: {runbooks: 'rb/*.yml', prometheus_url: 'http://p:9090', automatic: false}",
        env={},
    )
    assert config.automation.runbooks == ("rb/*.yml",)
    assert config.automation.automatic is False
    with pytest.raises(ConfigError, match=r"automation\.alertmanager_url: expected a URL"):
        parse_config("automation: {alertmanager_url: 'am:9093'}", env={})
