"""Runbook parameters: typed and checked at load and before the first step, filled only where
the runbook says (never from a label by its name alone), set by hand only where it allows, and
check-config's words for runbooks written for the old implicit filling."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from receiver.automation.definitions import RunbookConfig, parse_runbook
from receiver.automation.paramcheck import implicit_fill_warnings
from receiver.automation.params import fill_params, manual_values
from receiver.automation.paramtypes import ParamSpec, convert
from receiver.cli import main
from receiver.errors import ConfigError, InvalidInput
from receiver.hostallow import HostAllowList
from receiver.model import Alert, AlertStatus

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ALLOW = HostAllowList(["127.0.0.1:8080", "*.svc.example", "10.1.0.0/16"])


def alert(labels: dict[str, str], annotations: dict[str, str] | None = None) -> Alert:
    return Alert(
        1,
        "f00d",
        AlertStatus.FIRING,
        labels,
        annotations or {},
        NOW,
        None,
        NOW,
        NOW,
        None,
        None,
        None,
        "",
        "",
    )


def runbook(params: str, match: str = "[]") -> RunbookConfig:
    steps = "steps: [{id: w, wait: {duration: 1s}}]\n"
    text = f"id: p\ntitle: P\nmatch: {match}\nparams:\n{params}\n{steps}"
    return parse_runbook(text, source="rb.yml", env={})


def problems(params: str, match: str = "[]") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        runbook(params, match)
    return caught.value.problems


def refusal(call: Any, *args: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    return str(caught.value)


# --- types --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "value", "converted"),
    [
        (ParamSpec(), "web", "web"),
        (ParamSpec(), 42, "42"),
        (ParamSpec(type="int"), "-12", -12),
        (ParamSpec(type="int"), 7, 7),
        (ParamSpec(type="int"), 3.0, 3),
        (ParamSpec(type="float"), "0.25", 0.25),
        (ParamSpec(type="float"), 2, 2.0),
        (ParamSpec(type="bool"), "Yes", True),
        (ParamSpec(type="bool"), "0", False),
        (ParamSpec(type="bool"), False, False),
        (ParamSpec(type="duration"), "90m", "1h30m"),
        (ParamSpec(type="duration"), "30s", "30s"),
        (ParamSpec(type="enum", values=("drain", "cordon")), "cordon", "cordon"),
        (ParamSpec(type="url"), "https://idp.example:8443/admin", "https://idp.example:8443/admin"),
        (ParamSpec(type="url"), "http://[::1]:8080", "http://[::1]:8080"),
        (ParamSpec(type="host"), "db-1.svc.example", "db-1.svc.example"),
        (ParamSpec(type="host"), "10.1.2.3", "10.1.2.3"),
        (ParamSpec(type="host"), "fd00::1", "fd00::1"),
        (ParamSpec(pattern="[a-z][a-z0-9-]*"), "checkout-2", "checkout-2"),
    ],
)
def test_values_convert_to_their_type(spec: ParamSpec, value: object, converted: object) -> None:
    assert convert("x", spec, value) == converted


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (ParamSpec(type="int"), "many", 'params.x: expected an integer, got "many"'),
        (ParamSpec(type="int"), "1.5", "expected an integer"),
        (ParamSpec(type="int"), True, "expected an integer, got true"),
        (ParamSpec(type="int"), "9" * 40, "expected an integer"),
        (ParamSpec(type="float"), "nan", "expected a number"),
        (ParamSpec(type="float"), "1e999", "expected a number"),
        (ParamSpec(type="bool"), "maybe", "expected true or false"),
        (ParamSpec(type="duration"), "5 minutes", "expected a duration such as 30s"),
        (
            ParamSpec(type="enum", values=("drain", "cordon")),
            "delete",
            "expected one of drain, cordon",
        ),
        (
            ParamSpec(type="url"),
            "ftp://files.example/x",
            "expected an absolute http:// or https://",
        ),
        (ParamSpec(type="url"), "/admin/restart", "expected an absolute http"),
        (ParamSpec(type="url"), "http://user:pw@idp.example/", "expected an absolute http"),
        (ParamSpec(type="url"), "http://idp.example:port/", "expected an absolute http"),
        (ParamSpec(type="url"), "http://a b.example/", "expected an absolute http"),
        (ParamSpec(type="host"), "http://db.example", "expected a host name or an IP address"),
        (ParamSpec(type="host"), "db.example:5432", "expected a host name or an IP address"),
        (ParamSpec(type="host"), "db.example/x", "expected a host name or an IP address"),
        (ParamSpec(type="host"), "-rf", "expected a host name or an IP address"),
        (ParamSpec(pattern="[a-z][a-z0-9-]*"), "--file=evil.yml", "expected a value matching"),
        (ParamSpec(pattern="[a-z][a-z0-9-]*"), "web\n", "expected no control characters"),
        (ParamSpec(), "a\x00b", "expected no control characters, got U+0000 at position 1"),
        (ParamSpec(), "a\u2028b", "expected no control characters"),
        (ParamSpec(), "\x1b[31mred", "expected no control characters"),
        (ParamSpec(), "x" * 257, "expected at most 256 characters, got 257"),
        (ParamSpec(max_length=3), "abcd", "expected at most 3 characters"),
        (ParamSpec(), {"a": 1}, "expected a string, got a mapping"),
        (ParamSpec(), ["a"], "expected a string, got a list"),
        (ParamSpec(secret=True, pattern="[0-9]+"), "hunter2", "not shown: the parameter is secret"),
    ],
)
def test_values_that_are_not_of_the_type_are_refused_by_name(
    spec: ParamSpec, value: object, expected: str
) -> None:
    message = refusal(convert, "x", spec, value)
    assert message.startswith("params.x: ") and expected in message
    assert "hunter2" not in message


def test_a_pattern_must_match_the_whole_value() -> None:
    spec = ParamSpec(pattern="[a-z]+")
    assert convert("x", spec, "web") == "web"
    assert "expected a value matching" in refusal(convert, "x", spec, "web/../../admin")


# --- load-time checks ---------------------------------------------------------------------------


def test_a_runbook_states_its_params_correctly_or_does_not_load() -> None:
    # Where in the file is checked in tests/unit/config/test_positions.py.
    found = "\n".join(
        re.sub(r"^rb\.yml:\d+:\d+:", "rb.yml:", p)
        for p in problems(
            """
  a: {type: enum, from: labels.a}
  b: {values: [x], from: labels.b}
  c: {type: int, pattern: '[0-9]+', from: labels.c}
  d: {pattern: '(', from: labels.d}
  e: {secret: true, settable: true, default: x}
  f: {from: trigger_context.f, default: x}
  g: {type: url, default: "not a url"}
  h: {type: int, default: "four"}
  i: {from: alert.i}
  j: {type: integer, default: 1}
  k: {pattern: '(?=x)x', from: labels.k}
"""
        )
    )
    assert "rb.yml: params.a.values: an enum needs its values" in found
    assert "rb.yml: params.b.values: values go with type: enum" in found
    assert "rb.yml: params.c.pattern: a pattern applies to duration, host, string, url" in found
    assert "rb.yml: params.d.pattern: not a regular expression" in found
    assert "rb.yml: params.k.pattern: not a regular expression: invalid perl operator" in found
    assert "(RE2 syntax, as in Alertmanager: no look-arounds or back-references)" in found
    assert "rb.yml: params.e.settable: a secret parameter is never set by hand" in found
    assert "rb.yml: params.f.from: the trigger context is what a person gives" in found
    assert "rb.yml: params.g.default: expected an absolute http:// or https:// URL" in found
    assert 'rb.yml: params.h.default: expected an integer, got "four"' in found
    assert "rb.yml: params.i.from: expected labels.NAME, annotations.NAME" in found
    assert (
        "rb.yml: params.j.type: expected one of string, int, float, bool, duration, enum" in found
    )


def test_a_param_nothing_fills_is_an_error_that_explains_the_old_filling() -> None:
    (problem,) = problems("  api_url: {}\n  service: {required: true, default: web}")
    assert problem == (
        "rb.yml:5:3: params.api_url: nothing fills it: param api_url is no longer filled from the "
        "label api_url; write `from: labels.api_url` if you mean it, `default:` for a fixed "
        "value, or `settable: true` for one a person gives at a manual run"
    )


def test_check_config_warns_of_params_named_like_the_labels_they_no_longer_read() -> None:
    rb = runbook(
        "  service: {default: checkout}\n  instance: {settable: true}\n"
        "  replicas: {type: int, default: 2}\n  job: {from: labels.job}",
        match="['alertname=\"HighErrorRate\"', 'service=~\".+\"']",
    )
    assert implicit_fill_warnings([rb]) == [
        "rb.yml: params.service: param service is no longer filled from the label service; "
        "write `from: labels.service` if you mean it (the runbook matches on it)",
        "rb.yml: params.instance: param instance is no longer filled from the label instance; "
        "write `from: labels.instance` if you mean it (alerts commonly carry it)",
    ]


def test_check_config_fails_on_a_runbook_that_relied_on_the_label_of_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "old.yml").write_text(
        "id: old\ntitle: Old\nmatch: 'alertname=\"X\"'\nparams:\n  api_url: {}\n"
        "  service: {default: web}\nsteps: [{id: w, wait: {duration: 1s}}]\n"
    )
    path = tmp_path / "firebreak.yml"
    path.write_text('automation: {runbooks: "runbooks/*.yml"}\n')
    assert main(["check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{books / 'old.yml'}:" in err
    assert "params.api_url: nothing fills it: param api_url is no " in err
    (books / "old.yml").write_text(
        (books / "old.yml").read_text().replace("api_url: {}", "api_url: {from: labels.api}")
    )
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        f"  warning: {books / 'old.yml'}: params.service: param service is no longer filled "
        "from the label service; write `from: labels.service` if you mean it" in out
    )


def test_every_shipped_runbook_and_the_example_pass_check_config_without_a_fill_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-config", "--config", "firebreak.example.yml"]) == 0
    assert "no longer filled" not in capsys.readouterr().out


# --- filling ------------------------------------------------------------------------------------

FILLED = """
  service: {from: labels.service, required: true, settable: true}
  summary: {from: annotations.summary, default: "no summary"}
  api_url: {type: url, default: "http://127.0.0.1:8080"}
  replicas: {type: int, default: 2}
  ticket: {from: trigger_context.ticket, settable: true, pattern: 'INC-[0-9]+'}
"""


def test_params_are_filled_only_where_the_runbook_says() -> None:
    rb = runbook(FILLED)
    # The labels named like api_url and replicas are data: they fill nothing.
    labels = {"service": "checkout", "api_url": "http://attacker.example", "replicas": "99"}
    params = fill_params(rb, alert(labels, {"summary": "5xx"}), {})
    assert params == {
        "service": "checkout",
        "summary": "5xx",
        "api_url": "http://127.0.0.1:8080",
        "replicas": 2,
        "ticket": None,
    }


def test_a_value_given_at_a_manual_run_comes_first_then_from_then_the_default() -> None:
    rb = runbook(FILLED)
    given = manual_values(rb, {"service": "payments", "ticket": "INC-7", "note": "x"}, ALLOW)
    assert given == {"service": "payments", "ticket": "INC-7"}
    params = fill_params(rb, alert({"service": "checkout"}), {"ticket": "INC-7"}, given)
    assert (params["service"], params["ticket"], params["summary"]) == (
        "payments",
        "INC-7",
        "no summary",
    )


def test_an_empty_label_is_no_label() -> None:
    rb = runbook(FILLED)
    assert fill_params(rb, alert({"service": "web"}, {"summary": ""}), {})["summary"] == (
        "no summary"
    )
    message = refusal(fill_params, rb, alert({"service": ""}), {})
    assert message.startswith("params.service: required, and the alert has no label service")


def test_a_missing_required_param_is_named_in_the_terms_of_the_run() -> None:
    rb = runbook(FILLED)
    with_alert = refusal(fill_params, rb, alert({"alertname": "X"}), {})
    assert with_alert == (
        "params.service: required, and the alert has no label service; give it at the run "
        "(service=VALUE)"
    )
    without = refusal(fill_params, rb, None, {})
    assert without == (
        "params.service: required: it is read from labels.service, and this run has no alert; "
        "give it at the run (service=VALUE)"
    )
    assert "the alert" not in without


def test_a_label_that_is_not_of_the_type_fails_the_fill_naming_the_param() -> None:
    rb = runbook("  replicas: {type: int, from: labels.replicas, default: 2}")
    assert refusal(fill_params, rb, alert({"replicas": "lots"}), {}) == (
        'params.replicas: expected an integer, got "lots"'
    )


# --- settable -----------------------------------------------------------------------------------


def test_a_manual_run_sets_only_settable_params() -> None:
    rb = runbook(FILLED)
    assert refusal(manual_values, rb, {"api_url": "http://127.0.0.1:8080"}, ALLOW) == (
        "params.api_url: not settable at a manual run; the runbook gives it its default"
    )
    assert refusal(manual_values, rb, {"summary": "x"}, ALLOW) == (
        "params.summary: not settable at a manual run; the runbook fills it from "
        "annotations.summary"
    )
    assert refusal(manual_values, rb, {"ticket": "../x"}, ALLOW).startswith(
        "params.ticket: expected a value matching INC-[0-9]+"
    )
    assert manual_values(rb, {"unrelated": "context only"}, ALLOW) == {}


@pytest.mark.parametrize(
    ("kind", "value", "allowed"),
    [
        ("url", "http://127.0.0.1:8080/admin", True),
        ("url", "http://127.0.0.1:9090/admin", False),
        ("url", "https://api.svc.example/x", True),
        ("url", "https://evil.example/x", False),
        ("url", "http://169.254.169.254/latest/meta-data", False),
        ("url", "http://10.1.2.3/", True),
        ("host", "db.svc.example", True),
        ("host", "127.0.0.1", True),
        ("host", "10.1.9.9", True),
        ("host", "10.2.0.1", False),
        ("host", "attacker.example", False),
    ],
)
def test_a_url_or_host_set_by_hand_must_be_on_the_allow_list(
    kind: str, value: str, allowed: bool
) -> None:
    default = "http://127.0.0.1:8080" if kind == "url" else "127.0.0.1"
    rb = runbook(f"  target: {{type: {kind}, settable: true, default: '{default}'}}")
    if allowed:
        assert manual_values(rb, {"target": value}, ALLOW) == {"target": value}
    else:
        message = refusal(manual_values, rb, {"target": value}, ALLOW)
        assert message.startswith("params.target: ") and "automation.http_allow" in message


@pytest.mark.parametrize("page", ["runbooks.md", "security.md"])
def test_the_runbooks_the_docs_show_load_as_written(page: str) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / page).read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("id:")]
    assert blocks, page
    env = {"IDP_ADMIN_URL": "https://idp.example", "IDP_ADMIN_TOKEN": "t0k3n"}
    for block in blocks:
        rb = parse_runbook(block, source=page, env=env)
        assert all(spec.source is None or spec.pattern for spec in rb.params.values()), rb.id
