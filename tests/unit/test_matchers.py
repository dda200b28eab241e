"""Tests of receiver.matchers: Alertmanager's label-matcher syntax and semantics."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from receiver.errors import MatcherError
from receiver.matchers import (
    Matcher,
    MatchOp,
    format_matchers,
    matches_all,
    parse_matcher,
    parse_matcher_args,
    parse_matchers,
)
from tests.conftest import examples

EQ, NE, RE, NRE = MatchOp.EQ, MatchOp.NE, MatchOp.RE, MatchOp.NRE

FUZZ = settings(max_examples=examples(200), suppress_health_check=[HealthCheck.too_slow])


def m(name: str, op: MatchOp, value: str) -> Matcher:
    return Matcher(name, op, value)


# --- parsing -------------------------------------------------------------------------------------

PARSE_CASES: list[tuple[str, tuple[Matcher, ...]]] = [
    # empty forms
    ("", ()),
    ("   \n\t", ()),
    ("{}", ()),
    ("  {  }  ", ()),
    # the four operators, braced and not
    ('{alertname="X"}', (m("alertname", EQ, "X"),)),
    ('alertname="X"', (m("alertname", EQ, "X"),)),
    ('{a!="b"}', (m("a", NE, "b"),)),
    ('{severity=~"crit.*"}', (m("severity", RE, "crit.*"),)),
    ('{severity!~"info|debug"}', (m("severity", NRE, "info|debug"),)),
    (
        '{alertname="X",severity=~"crit.*"}',
        (m("alertname", EQ, "X"), m("severity", RE, "crit.*")),
    ),
    (
        'alertname="X",severity=~"crit.*"',
        (m("alertname", EQ, "X"), m("severity", RE, "crit.*")),
    ),
    # whitespace between every token
    (
        ' {  alertname = "X" ,\n severity =~ "crit.*"  } ',
        (m("alertname", EQ, "X"), m("severity", RE, "crit.*")),
    ),
    ('\ta\t!=\t"b"\t', (m("a", NE, "b"),)),
    # trailing commas
    ('{a="b",}', (m("a", EQ, "b"),)),
    ('{a="b" , }', (m("a", EQ, "b"),)),
    ('a="b",', (m("a", EQ, "b"),)),
    ('a="b" , ', (m("a", EQ, "b"),)),
    # escapes in quoted values
    (r'{a="say \"hi\""}', (m("a", EQ, 'say "hi"'),)),
    (r'{a="back\\slash"}', (m("a", EQ, "back\\slash"),)),
    (r'{a="two\nlines"}', (m("a", EQ, "two\nlines"),)),
    # an unknown escape keeps backslash and character, so regexes need no doubling
    (r'{a=~"\d+\.\d+"}', (m("a", RE, r"\d+\.\d+"),)),
    (r'{a="\t"}', (m("a", EQ, "\\t"),)),
    # a raw newline, comma and brace inside quotes are plain characters
    ('{a="x\ny"}', (m("a", EQ, "x\ny"),)),
    ('{a="1,2", b="{}"}', (m("a", EQ, "1,2"), m("b", EQ, "{}"))),
    ('{a=""}', (m("a", EQ, ""),)),
    ('{a="ünïcødé ✓"}', (m("a", EQ, "ünïcødé ✓"),)),
    # unquoted values (Alertmanager's classic form)
    ("alertname=X", (m("alertname", EQ, "X"),)),
    ("{alertname=X}", (m("alertname", EQ, "X"),)),
    ("alertname=X,severity=~crit.*", (m("alertname", EQ, "X"), m("severity", RE, "crit.*"))),
    ("{ a = spaced out value , b=c }", (m("a", EQ, "spaced out value"), m("b", EQ, "c"))),
    ("a=x=y", (m("a", EQ, "x=y"),)),
    ("a=!=", (m("a", EQ, "!="),)),
    ("a=~~x", (m("a", RE, "~x"),)),
    ("a=", (m("a", EQ, ""),)),
    ("{a=,b!=}", (m("a", EQ, ""), m("b", NE, ""))),
    ("a=x{y", (m("a", EQ, "x{y"),)),
    (r"a=~\d+", (m("a", RE, r"\d+"),)),
    (r"a=x\"y", (m("a", EQ, 'x"y'),)),
    (r"a=x\ny", (m("a", EQ, "x\ny"),)),
    # label names: identifiers and quoted strings
    ("_a1=b", (m("_a1", EQ, "b"),)),
    ('{"my label"="x"}', (m("my label", EQ, "x"),)),
    ('{"a.b/c"!~"x"}', (m("a.b/c", NRE, "x"),)),
    (r'{"q\"uote"="x"}', (m('q"uote', EQ, "x"),)),
    ('{"名前" = "値"}', (m("名前", EQ, "値"),)),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse_matchers(text: str, expected: tuple[Matcher, ...]) -> None:
    assert parse_matchers(text) == expected


def test_parse_matcher_single() -> None:
    assert parse_matcher('severity=~"crit.*"') == m("severity", RE, "crit.*")
    assert parse_matcher('{severity="crit"}') == m("severity", EQ, "crit")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ()),
        (["alertname=X"], (m("alertname", EQ, "X"),)),
        (
            ["alertname=X", 'severity=~"crit.*"'],
            (m("alertname", EQ, "X"), m("severity", RE, "crit.*")),
        ),
        (
            ['{alertname="X", env!="dev"}', "team=~db.*"],
            (m("alertname", EQ, "X"), m("env", NE, "dev"), m("team", RE, "db.*")),
        ),
        (["{}", "a=b"], (m("a", EQ, "b"),)),
        (["a=b,c=d"], (m("a", EQ, "b"), m("c", EQ, "d"))),
        (["summary=disk full"], (m("summary", EQ, "disk full"),)),
    ],
)
def test_parse_matcher_args(args: list[str], expected: tuple[Matcher, ...]) -> None:
    assert parse_matcher_args(args) == expected


# --- printing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "text"),
    [
        (m("a", EQ, "b"), 'a="b"'),
        (m("a", NE, ""), 'a!=""'),
        (m("severity", RE, "crit.*"), 'severity=~"crit.*"'),
        (m("a", NRE, r"\d"), r'a!~"\\d"'),
        (m("a", EQ, 'say "hi"\nback\\'), r'a="say \"hi\"\nback\\"'),
        (m("my label", EQ, "x"), '"my label"="x"'),
        (m("1abc", EQ, "x"), '"1abc"="x"'),
        (m("a-b", EQ, "x"), '"a-b"="x"'),
        (m("ünï", EQ, "x"), '"ünï"="x"'),
        (m('q"n\n', EQ, "x"), r'"q\"n\n"="x"'),
    ],
)
def test_str(matcher: Matcher, text: str) -> None:
    assert str(matcher) == text


def test_format_matchers() -> None:
    assert format_matchers([m("a", EQ, "b"), m("c", RE, "d")]) == '{a="b", c=~"d"}'
    assert format_matchers([]) == "{}"


def test_equality_and_hash_ignore_compiled_regex() -> None:
    one, two = m("a", RE, "x.*"), parse_matcher('a=~"x.*"')
    assert one == two
    assert hash(one) == hash(two)
    assert "re.compile" not in repr(one)
    assert one != m("a", NRE, "x.*")


def test_operator_given_as_text_is_coerced() -> None:
    matcher = Matcher("a", "=~", "x")  # type: ignore[arg-type]
    assert matcher.op is RE
    assert matcher.matches({"a": "x"})


# --- matching ------------------------------------------------------------------------------------

MATCH_CASES: list[tuple[str, dict[str, str], bool]] = [
    ('a="b"', {"a": "b"}, True),
    ('a="b"', {"a": "bb"}, False),
    ('a="b"', {}, False),
    ('a!="b"', {"a": "c"}, True),
    ('a!="b"', {"a": "b"}, False),
    ('a!="b"', {}, True),
    # a missing label is the empty string
    ('a=""', {}, True),
    ('a=""', {"a": ""}, True),
    ('a=""', {"a": "x"}, False),
    ('a!=""', {}, False),
    ('a!=""', {"a": "x"}, True),
    ('a=~".*"', {}, True),
    ('a=~".+"', {}, False),
    ('a!~".+"', {}, True),
    ('a=~"x|"', {}, True),
    # regexes are anchored at both ends
    ('severity=~"crit"', {"severity": "critical"}, False),
    ('severity=~"crit"', {"severity": "crit"}, True),
    ('severity=~"crit.*"', {"severity": "critical"}, True),
    ('severity=~"ical"', {"severity": "critical"}, False),
    ('severity=~"crit"', {"severity": "crit\n"}, False),
    ('severity!~"crit"', {"severity": "critical"}, True),
    ('severity!~"crit.*"', {"severity": "critical"}, False),
    ('a=~"x|y"', {"a": "y"}, True),
    ('a=~"x|y"', {"a": "xy"}, False),
    ('a=~"(?i)crit"', {"a": "CRIT"}, True),
    (r'a=~"\d+"', {"a": "123"}, True),
    (r'a=~"10\.0"', {"a": "10x0"}, False),
    # RE2 semantics, anchored as Alertmanager anchors: ^(?:value)$
    ('a=~"(a+)+$"', {"a": "a" * 40 + "b"}, False),
    ('a=~"(a+)+$"', {"a": "a" * 40}, True),
    ('a=~"(x+x+)+y"', {"a": "x" * 5000}, False),
    ('a=~"a)|(b"', {"a": "ab"}, True),  # ^(?:a)|(b)$, as Alertmanager reads it
    ('a=~"\\d+"', {"a": "\u0663"}, False),  # \d is ASCII digits, as in Go
    ('a=~"."', {"a": "\n"}, False),
    ('a=~"(?s)."', {"a": "\n"}, True),
    ('a=~"\\pL+"', {"a": "\u00e9t\u00e9"}, True),
    ('a=~"x"', {"a": "\ud800"}, False),  # a lone surrogate is a value like any other
    # other labels are irrelevant; names are case-sensitive
    ('a="b"', {"a": "b", "c": "d"}, True),
    ('a="b"', {"A": "b"}, False),
    ('"my label"="x"', {"my label": "x"}, True),
]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    MATCH_CASES,
    ids=[f"{c[0]} {c[1]}" for c in MATCH_CASES],
)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


def test_matches_all() -> None:
    matchers = parse_matchers('{alertname="DiskFull", severity=~"crit.*", env!="dev"}')
    assert matches_all(matchers, {"alertname": "DiskFull", "severity": "critical"})
    assert not matches_all(matchers, {"alertname": "DiskFull", "severity": "warning"})
    assert not matches_all(matchers, {"alertname": "DiskFull", "severity": "crit", "env": "dev"})
    assert matches_all((), {})
    assert matches_all(iter(matchers), {"alertname": "DiskFull", "severity": "crit"})


# --- errors --------------------------------------------------------------------------------------

ERROR_CASES: list[tuple[str, str]] = [
    ("alertname", 'expected an operator (=, !=, =~, !~) after "alertname" at position 9'),
    ("{alertname}", 'expected an operator (=, !=, =~, !~) after "alertname" at position 10'),
    ("a b=c", 'expected an operator (=, !=, =~, !~) after "a" at position 2'),
    ("a!b", 'expected an operator (=, !=, =~, !~) after "a" at position 1'),
    ("a~=b", 'expected an operator (=, !=, =~, !~) after "a" at position 1'),
    ('"my label"', 'expected an operator (=, !=, =~, !~) after "my label" at position 10'),
    ('{alertname="X', "unterminated quoted value starting at position 11"),
    ('a="x\\"', "unterminated quoted value starting at position 2"),
    ('{"name=x', "unterminated quoted label name starting at position 1"),
    ('{a="b"', 'missing closing "}" for the "{" at position 0'),
    ("  {a=b", 'missing closing "}" for the "{" at position 2'),
    ("{", 'missing closing "}"'),
    ('{a="b",', 'missing closing "}"'),
    ("a=b}", 'unexpected "}" at position 3 without an opening "{"'),
    ("}", 'unexpected "}" at position 0 without an opening "{"'),
    ('{a="b"} x', 'unexpected "x" after the closing "}" at position 8'),
    ("{a=b}}", 'unexpected "}" after the closing "}" at position 5'),
    ('{a="b"}{c="d"}', 'unexpected "{" after the closing "}" at position 7'),
    ('a="b" c="d"', 'expected "," or end of input after a="b" at position 6, found "c"'),
    ('{a="b" c="d"}', 'expected "," or "}" after a="b" at position 7, found "c"'),
    (",", "expected a label name (an identifier or a quoted string) at position 0"),
    (
        '{a="b",,}',
        'expected a label name (an identifier or a quoted string) at position 7, found ","',
    ),
    ("=b", 'expected a label name (an identifier or a quoted string) at position 0, found "="'),
    ("1a=b", 'expected a label name (an identifier or a quoted string) at position 0, found "1"'),
    ("{}a=b", 'unexpected "a" after the closing "}" at position 2'),
    ('""="x"', "empty label name at position 0"),
    ('{ ""="x"}', "empty label name at position 2"),
    ('a=x"y"', 'unexpected double quote at position 3 in the unquoted value of "a"'),
    ('a = ~"x"', 'unexpected double quote at position 5 in the unquoted value of "a"'),
    ('severity=~"("', 'invalid regular expression "(" in severity=~"(": missing ): ('),
    ("severity=~(", 'invalid regular expression "(" in severity=~"("'),
    (
        'a!~"[z-a]"',
        'invalid regular expression "[z-a]" in a!~"[z-a]": invalid character class range: z-a',
    ),
    ('a=~"x{1001}"', 'invalid regular expression "x{1001}" in a=~"x{1001}": invalid repetition'),
    # RE2, as Alertmanager: no back-references, no look-arounds, a bounded program.
    ('a=~"(a)\\1"', "invalid escape sequence: \\1 (RE2 syntax, as in Alertmanager: no look"),
    ('a=~"x(?=y)"', "invalid perl operator: (?= (RE2 syntax, as in Alertmanager: no look"),
    ('a=~"(?<!x)y"', "invalid regular expression"),
    ('a=~"\\pL{1000}"', "too large: it compiles to more than 1024 KiB"),
    ('a=~"' + "[a-z]{1000}" * 100 + '"', "too large"),
]


@pytest.mark.parametrize(("text", "message"), ERROR_CASES, ids=[c[0][:40] for c in ERROR_CASES])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text, field="filter")
    assert caught.value.field == "filter"
    assert message in caught.value.message


def test_error_field_defaults() -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers("a")
    assert caught.value.field == "matchers"
    with pytest.raises(MatcherError) as caught:
        parse_matcher("a")
    assert caught.value.field == "matcher"
    with pytest.raises(MatcherError) as caught:
        parse_matcher_args(["a"])
    assert caught.value.field == "matchers"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected exactly one matcher, found none"),
        ("{}", "expected exactly one matcher, found none"),
        ("a=b,c=d", "expected exactly one matcher, found 2"),
        ("a", "expected an operator"),
    ],
)
def test_parse_matcher_errors(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matcher(text, field="silence")
    assert caught.value.field == "silence"
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a=b", ""], "argument 2 is empty; expected a matcher"),
        (["  "], "argument 1 is empty; expected a matcher"),
        (
            ["a=b", "severity"],
            'argument 2 ("severity"): expected an operator (=, !=, =~, !~) after "severity" '
            "at position 8",
        ),
        (["{a=b"], 'argument 1 ("{a=b"): missing closing "}"'),
        (['x=~"("'], 'argument 1 ("x=~\\"(\\""): invalid regular expression "("'),
    ],
)
def test_parse_matcher_args_errors(args: list[str], message: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matcher_args(args, field="command")
    assert caught.value.field == "command"
    assert message in caught.value.message


def test_invalid_matcher_construction() -> None:
    with pytest.raises(MatcherError, match="empty label name"):
        Matcher("", EQ, "x")
    with pytest.raises(MatcherError, match=re.escape('invalid regular expression "[" in a=~"["')):
        Matcher("a", RE, "[")
    with pytest.raises(MatcherError, match="unknown operator"):
        Matcher("a", "==", "x")  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------

identifiers = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]*", fullmatch=True)
label_names = st.one_of(identifiers, st.text(min_size=1))
# Text made mostly of the characters the grammar cares about, so fuzzing reaches deep paths.
syntax_text = st.text(alphabet=st.sampled_from('{}=!~",\\ \n\tab_1.*(|)[]é"'), max_size=40)


@st.composite
def matchers(draw: st.DrawFn) -> Matcher:
    name = draw(label_names)
    op = draw(st.sampled_from(MatchOp))
    if op in (EQ, NE):
        value = draw(st.text())
    else:
        value = draw(st.one_of(st.text().map(re.escape), st.text(), syntax_text))
    try:
        return Matcher(name, op, value)
    except MatcherError:
        assume(False)
        raise


def quote(text: str) -> str:
    """Quote independently of the module under test."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


spaces = st.text(alphabet=" \t\n", max_size=2)
unquoted_values = st.text(
    alphabet=st.characters(exclude_characters=',}"\\', exclude_categories=["Cs"]), max_size=8
).map(str.strip)


@st.composite
def written_matchers(draw: st.DrawFn) -> tuple[str, tuple[Matcher, ...]]:
    """Text in any accepted spelling, together with the matchers it must parse to."""
    parsed: list[Matcher] = []
    parts: list[str] = []
    for matcher in draw(st.lists(matchers(), max_size=3)):
        name_text = matcher.name
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name_text) or draw(st.booleans()):
            name_text = quote(matcher.name)
        value = matcher.value
        # An unquoted value starting with "~" right after "=" or "!=" would spell another
        # operator ("=~"), so such values are written quoted.
        if draw(st.booleans()) and not (value_text := draw(unquoted_values)).startswith("~"):
            value = value_text
        else:
            value_text = quote(value)
        try:
            parsed.append(Matcher(matcher.name, matcher.op, value))
        except MatcherError:
            assume(False)
        before, middle, after = draw(spaces), draw(spaces), draw(spaces)
        parts.append(f"{before}{name_text}{middle}{matcher.op.value}{after}{value_text}")
    text = ",".join(f"{part}{draw(spaces)}" for part in parts)
    if draw(st.booleans()) and parts:
        text += "," + draw(spaces)
    if draw(st.booleans()):
        text = draw(spaces) + "{" + text + "}" + draw(spaces)
    return text, tuple(parsed)


@st.composite
def damaged_text(draw: st.DrawFn) -> str:
    """Nearly valid text: one character of a valid spelling deleted, replaced or inserted."""
    text, _ = draw(written_matchers())
    at = draw(st.integers(0, len(text)))
    extra = draw(st.sampled_from('{}=!~",\\ x'))
    return draw(
        st.sampled_from(
            [
                text[:at] + text[at + 1 :],
                text[:at] + extra + text[at + 1 :],
                text[:at] + extra + text[at:],
            ]
        )
    )


@FUZZ
@given(written_matchers())
def test_every_spelling_parses(case: tuple[str, tuple[Matcher, ...]]) -> None:
    text, expected = case
    assert parse_matchers(text) == expected


@FUZZ
@given(st.one_of(st.text(), syntax_text, damaged_text()))
def test_parse_never_raises_anything_but_matcher_error(text: str) -> None:
    try:
        result = parse_matchers(text, field="fuzz")
    except MatcherError as exc:
        assert exc.field == "fuzz"
        assert exc.message
    else:
        assert isinstance(result, tuple)
        assert all(isinstance(matcher, Matcher) for matcher in result)
        # Whatever parses prints back to something that parses to the same matchers.
        assert parse_matchers(format_matchers(result)) == result


@FUZZ
@given(st.lists(matchers(), max_size=4))
def test_round_trip_through_format(generated: list[Matcher]) -> None:
    assert parse_matchers(format_matchers(generated)) == tuple(generated)


@FUZZ
@given(matchers())
def test_round_trip_through_str(matcher: Matcher) -> None:
    assert parse_matcher(str(matcher)) == matcher
    assert parse_matcher_args([str(matcher)]) == (matcher,)


@FUZZ
@given(label_names, st.text(), st.dictionaries(label_names, st.text(), max_size=3))
def test_eq_matcher_matches_its_value(name: str, value: str, others: dict[str, str]) -> None:
    labels = {**others, name: value}
    assert Matcher(name, EQ, value).matches(labels)
    assert not Matcher(name, NE, value).matches(labels)
    assert Matcher(name, RE, re.escape(value)).matches(labels)
    assert not Matcher(name, NRE, re.escape(value)).matches(labels)
    assert Matcher(name, EQ, value + "x").matches(labels) is False
