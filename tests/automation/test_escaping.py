"""The escaping filters, as a runbook's templates use them: hostile values stay one value in a
URL path segment, a PromQL string, an Alertmanager matcher and an argv item, or the step fails
naming its field. (A real Prometheus reads the PromQL escape back in tests/e2e.)"""

from __future__ import annotations

import urllib.parse

import pytest
import yarl

from receiver.automation.templating import TemplateFailure, check_syntax, render
from receiver.matchers import parse_matchers

HOSTILE = [
    "plain",
    "",
    '"} or vector(1) or {a="',
    'a"b',
    "back\\slash",
    "\\",
    "line\nbreak",
    "tab\there",
    "cr\rhere",
    "nul\x00byte",
    "esc\x1b[31m",
    "../../internal/keys?x=1#",
    "--file=evil.yml",
    "%2e%2e",
    "ünïcödé ✓",
    "\\d+",
    '\\"',
    "x" * 5000,
]


def _render(template: str, value: object) -> str:
    return render(template, {"value": value}, where="steps.s.http.url")


@pytest.mark.parametrize("value", [v for v in HOSTILE if v not in ("", "..", ".")])
def test_a_path_segment_is_one_segment_and_decodes_to_the_value(value: str) -> None:
    encoded = _render("{{ value | path_segment }}", value)
    # Nothing but unreserved characters and percent escapes: no /, ?, # or raw %.
    assert all((c.isalnum() and c.isascii()) or c in "-._~%" for c in encoded), encoded
    assert urllib.parse.unquote(encoded) == value
    # As the http step sends it (yarl normalises the path): still one segment of the value.
    url = yarl.URL(f"http://svc.example/admin/cache/{encoded}/stats")
    assert url.parts == ("/", "admin", "cache", value, "stats")
    assert url.query_string == "" and url.fragment == ""


def test_path_segment_encodes_what_urlencode_leaves() -> None:
    value = "../../admin/restart"
    assert _render("{{ value | urlencode }}", value) == "../../admin/restart"
    assert _render("{{ value | path_segment }}", value) == "..%2F..%2Fadmin%2Frestart"
    assert _render("{{ value | path_segment }}", "a b?c#d%e") == "a%20b%3Fc%23d%25e"
    assert _render("{{ value | path_segment }}", "v1.2_~-") == "v1.2_~-"
    assert _render("{{ value | path_segment }}", 42) == "42"


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_path_segment_refuses_dot_segments_and_nothing(value: str) -> None:
    with pytest.raises(TemplateFailure) as caught:
        _render("http://svc/admin/cache/{{ value | path_segment }}", value)
    assert str(caught.value).startswith("steps.s.http.url: value refused: path_segment: ")


@pytest.mark.parametrize("value", [None, ["a"], {"a": "b"}])
def test_filters_refuse_what_is_not_one_value(value: object) -> None:
    for name in ("path_segment", "promql_string", "matcher_value", "not_option"):
        with pytest.raises(TemplateFailure, match=f"value refused: {name}: expected a string"):
            _render(f"{{{{ value | {name} }}}}", value)


def _promql_unquote(literal: str) -> str:
    """What PromQL's lexer makes of a double-quoted string: Go's strconv.Unquote."""
    assert literal.startswith('"') and literal.endswith('"')
    body, out, i = literal[1:-1], [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "a": "\a", "b": "\b"}
    while i < len(body):
        char = body[i]
        assert char != '"', f"an unescaped quote ends the string early: {literal}"
        assert char != "\n", f"a raw line break ends the string: {literal}"
        if char == "\\":
            nxt = body[i + 1]
            if nxt == "x":
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(simple[nxt])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_promql_string_stays_inside_its_quotes(value: str) -> None:
    query = _render('up{job="{{ value | promql_string }}"} == 1', value)
    literal = query[len("up{job=") : -len("} == 1")]
    assert _promql_unquote(literal) == value


def test_promql_string_escapes_the_injection_from_the_issue() -> None:
    value = '"} or vector(1) or {a="'
    query = _render('cache_hit_ratio{cache="{{ value | promql_label }}"}', value)
    assert query == 'cache_hit_ratio{cache="\\"} or vector(1) or {a=\\""}'
    # Without the filter the value closes the matcher and adds "or vector(1)".
    assert _render('x{a="{{ value }}"}', value) == 'x{a=""} or vector(1) or {a=""}'


@pytest.mark.parametrize("value", HOSTILE)
def test_a_matcher_value_round_trips_through_the_matcher_parser(value: str) -> None:
    text = _render('instance="{{ value | matcher_value }}"', value)
    (matcher,) = parse_matchers(text, field="match")
    assert (matcher.name, matcher.value) == ("instance", value)
    # Two of them in one list stay two matchers.
    text = _render('{a="{{ value | matcher_value }}", b="{{ value | matcher_value }}"}', value)
    assert [(m.name, m.value) for m in parse_matchers(text)] == [("a", value), ("b", value)]


def test_an_unescaped_matcher_value_breaks_out() -> None:
    value = 'x", alertname=~".+'
    (matcher,) = parse_matchers(_render('instance="{{ value | matcher_value }}"', value))
    assert matcher.value == value
    injected = parse_matchers(_render('instance="{{ value }}"', value))
    assert [m.name for m in injected] == ["instance", "alertname"]


@pytest.mark.parametrize("value", ["--file=evil.yml", "-v", "--", "-"])
def test_not_option_refuses_what_a_program_would_read_as_an_option(value: str) -> None:
    with pytest.raises(TemplateFailure, match=r"value refused: not_option: .* starts with '-'"):
        _render("{{ value | not_option }}", value)


def test_not_option_passes_everything_else_unchanged() -> None:
    for value in ("web", "x; rm -rf /", "a-b", "$(id)"):
        assert _render("{{ value | not_option }}", value) == value


def test_an_unknown_filter_is_a_load_time_error() -> None:
    problem = check_syntax("{{ params.user | path_segmnet }}")
    assert problem is not None and "path_segmnet" in problem
