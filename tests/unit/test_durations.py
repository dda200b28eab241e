"""Prometheus duration parsing and formatting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.durations import format_duration, parse_duration
from tests.conftest import examples

UNITS = ("y", "w", "d", "h", "m", "s", "ms")
MAX_MS = timedelta.max // timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("0ms", timedelta(0)),
        ("250ms", timedelta(milliseconds=250)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h0m", timedelta(hours=1)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(days=7)),
        ("1y", timedelta(days=365)),
        (
            "1y2w3d4h5m6s7ms",
            timedelta(days=365 + 14 + 3, hours=4, minutes=5, seconds=6, milliseconds=7),
        ),
        ("1m5ms", timedelta(minutes=1, milliseconds=5)),
        ("007s", timedelta(seconds=7)),
    ],
)
def test_parse_valid(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00",
        "5",
        "5 minutes",
        " 5m",
        "5m ",
        "5m\n",
        "-5m",
        "+5m",
        "1.5h",
        "5M",
        "5H",
        "1m1h",  # wrong order
        "1h1h",  # repeated unit
        "5ms5s",
        "h",
        "1h 30m",
        "\uff15m",  # a fullwidth digit: \d would accept it, Prometheus does not
        "5us",
    ],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a duration such as 30s, 5m or 1h30m, got "):
        parse_duration(text)


def test_parse_error_message_quotes_the_input() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("5 minutes")
    assert str(info.value) == 'expected a duration such as 30s, 5m or 1h30m, got "5 minutes"'


@pytest.mark.parametrize("text", ["9999999y", "1" * 30 + "ms", "9" * 5000 + "s"])
def test_parse_too_long(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a duration shorter than 999999999d, got "):
        parse_duration(text)


def test_parse_long_zero_padding_is_fine() -> None:
    assert parse_duration("0" * 5000 + "1s") == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("td", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=3601, milliseconds=1), "1h1s1ms"),
        (timedelta(days=1), "1d"),
        (timedelta(days=14), "2w"),
        (timedelta(days=90), "90d"),  # weeks only when exact, like Prometheus
        (timedelta(days=365), "1y"),
        (timedelta(days=400), "400d"),  # years only when exact
        (timedelta(days=730, hours=1), "730d1h"),
        (timedelta(days=7, hours=1), "7d1h"),
    ],
)
def test_format(td: timedelta, expected: str) -> None:
    assert format_duration(td) == expected
    assert parse_duration(expected) == td


@pytest.mark.parametrize("td", [timedelta(milliseconds=-1), timedelta(microseconds=1500)])
def test_format_rejects_what_the_syntax_cannot_express(td: timedelta) -> None:
    with pytest.raises(ValueError, match="cannot format"):
        format_duration(td)


@settings(max_examples=examples(200))
@given(st.integers(min_value=0, max_value=MAX_MS))
def test_format_then_parse_round_trips(milliseconds: int) -> None:
    td = timedelta(milliseconds=milliseconds)
    assert parse_duration(format_duration(td)) == td


@st.composite
def duration_texts(draw: st.DrawFn) -> str:
    """Valid duration strings: a non-empty ordered subset of units with modest numbers."""
    used = draw(st.lists(st.sampled_from(UNITS), min_size=1, unique=True))
    return "".join(f"{draw(st.integers(0, 10_000))}{unit}" for unit in UNITS if unit in used)


@settings(max_examples=examples(200))
@given(duration_texts())
def test_parse_then_format_is_canonical(text: str) -> None:
    td = parse_duration(text)
    canonical = format_duration(td)
    assert parse_duration(canonical) == td
    assert format_duration(parse_duration(canonical)) == canonical


@settings(max_examples=examples(200))
@given(st.text(alphabet="0123456789ywdhms .-", max_size=12))
def test_parse_arbitrary_text_gives_timedelta_or_value_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert result >= timedelta(0)
