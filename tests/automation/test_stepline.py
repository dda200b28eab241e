"""One line saying what a step does, for the log and the CLI: every value quoted or bare as it
must be, nothing that starts a new line or drives a terminal, long values cut."""

from __future__ import annotations

from datetime import timedelta

import pytest

from receiver.automation.stepline import BODY_LIMIT, LINE_LIMIT, one_line, quoted, step_line


@pytest.mark.parametrize(
    ("kind", "would", "line"),
    [
        ("http", {"method": "post", "url": "http://h:8080/a?b=c"}, "POST http://h:8080/a?b=c"),
        ("http", {"url": "http://h/a b"}, 'GET "http://h/a b"'),
        (
            "http",
            {"method": "PUT", "url": "http://h/", "body": {"b": 1, "a": "x"}},
            'PUT http://h/ body {"a": "x", "b": 1}',
        ),
        (
            "shell",
            {"argv": ["docker", "scale", "api=4; rm -rf /"]},
            'argv "docker" "scale" "api=4; rm -rf /"',
        ),
        ("shell", {"argv": ["ls"], "cwd": "/srv"}, 'argv "ls" in /srv'),
        (
            "promql",
            {"query": 'up{job="x"} == 0', "expect": "== 1"},
            'query "up{job=\\"x\\"} == 0" expecting == 1',
        ),
        ("wait", {"seconds": 90}, "wait 1m30s"),
        ("wait", {"duration": timedelta(hours=1)}, "wait 1h"),
        (
            "silence",
            {
                "matchers": [
                    {"name": "a", "value": "x", "isRegex": False, "isEqual": True},
                    {"name": "b", "value": "y|z", "isRegex": True, "isEqual": True},
                    {"name": "c", "value": "w", "isRegex": False, "isEqual": False},
                    {"name": "d", "value": "v.*", "isRegex": True, "isEqual": False},
                ],
                "max_duration": 7200,
            },
            'silence {a="x", b=~"y|z", c!="w", d!~"v.*"} for 2h',
        ),
        (
            "silence",
            {"match": ['instance="db-1"'], "max_duration": 60},
            'silence {"instance=\\"db-1\\""} for 1m',
        ),
        ("silence", {"match": [], "max_duration": 60}, "silence every label of the alert for 1m"),
        ("approval", {"approvers": ["role:admin", "alice"]}, "ask role:admin, alice to approve"),
        ("approval", {"approvers": []}, "ask any responder to approve"),
        ("notify", {"channel": "chat", "target": "C1", "message": "hi"}, 'notify chat (C1): "hi"'),
        ("python", {"function": "f", "args": {"a": 1}}, 'call f with {"a": 1}'),
    ],
)
def test_each_step_type_in_one_line(kind: str, would: dict[str, object], line: str) -> None:
    assert step_line(kind, would) == line


def test_nothing_leaves_its_line_or_reaches_the_terminal() -> None:
    hostile = "a\nb\rc\x1b[2Jd\u2028e\u0085f\u202eg\x7fh"
    for shown in (
        quoted(hostile),
        one_line(hostile),
        step_line("http", {"url": hostile}),
        step_line("http", {"url": "http://h/", "refused": hostile}),  # a dry run's refusal
    ):
        assert shown.isprintable(), shown
    assert quoted(hostile) == '"a\\nb\\rc\\u001b[2Jd\\u2028e\\u0085f\\u202eg\\u007fh"'


def test_long_values_are_cut() -> None:
    assert quoted("x" * 1000) == '"' + "x" * 200 + '"…'
    assert one_line("y" * 600, 500) == "y" * 500 + "…"
    body = {"text": "z" * 2000}
    line = step_line("http", {"url": "http://h/", "body": body})
    assert line.endswith("…") and len(line) <= len("POST http://h/ body ") + BODY_LIMIT + 1
    argv = ["w" * 150] * 20
    assert len(step_line("shell", {"argv": argv})) == LINE_LIMIT + 1
    refused = step_line("shell", {"argv": ["x"], "refused": "r" * 1000})
    assert refused == 'argv "x" — refused when live: ' + "r" * 200 + "…"
