"""Arbitrary input to the parsers people type into: every Slack subcommand's arguments and every
runbook template give a result or a clear user error, never an unhandled exception."""

from __future__ import annotations

import contextlib
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.automation.templating import TemplateFailure, evaluate, render
from receiver.errors import FirebreakError
from receiver.slack.commands import SUBCOMMANDS
from tests.conftest import examples

_WORDS = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(
            [
                "12",
                "-1",
                "0",
                "1e9",
                "99999999999999999999",
                "30m",
                "1h",
                "7d",
                "0s",
                "8d",
                'alertname="X"',
                "a=~b",
                '{x="y"}',
                "=",
                "k=v",
                "note",
                "²",
                "١٢",
            ]
        ),
    ),
    max_size=6,
)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=_WORDS)
def test_subcommand_arguments_parse_or_say_what_was_expected(name: str, words: list[str]) -> None:
    try:
        SUBCOMMANDS[name].parse(list(words))
    except FirebreakError as exc:  # Usage and matcher errors: said to the user as they are
        assert str(exc)


@settings(max_examples=examples(150), deadline=None)
@given(st.text(max_size=60))
def test_command_text_splits_or_is_refused_plainly(text: str) -> None:
    try:
        words = shlex.split(text)
    except ValueError:
        return  # answered "Could not read the command (...); check the quotes."
    name = words[0].lower() if words else "help"
    if name in SUBCOMMANDS:
        with contextlib.suppress(FirebreakError):  # said to the user as it is
            SUBCOMMANDS[name].parse(words[1:])


_TEMPLATE_BITS = st.sampled_from(
    [
        "{{",
        "}}",
        "{%",
        "%}",
        "labels.x",
        "params",
        "alert",
        "steps.a.output",
        "|",
        "upper",
        "().__class__",
        "__subclasses__()",
        "range(10**9)",
        "'a' * 10**8",
        "1/0",
        "for",
        "endfor",
        "if",
        "endif",
        " ",
        "x",
        "[0]",
        "{{ labels.service }}",
        "{{ 7*7 }}",
    ]
)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.one_of(_TEMPLATE_BITS, st.text(max_size=5)), max_size=12).map("".join))
def test_templates_render_or_fail_with_a_message(text: str) -> None:
    scope = {
        "labels": {"service": "checkout", "x": "y"},
        "annotations": {},
        "params": {"n": 3},
        "alert": {"labels": {}},
        "steps": {"a": {"output": {"value": 1}}},
    }
    try:
        result = render(text, scope, where="steps[0].http.url")
        assert isinstance(result, str)
    except TemplateFailure as exc:
        assert "steps[0].http.url" in str(exc)
    with contextlib.suppress(TemplateFailure):  # a step failure with that message
        evaluate(text, scope)
