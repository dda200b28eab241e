"""Anything a generator URL or a Prometheus answer may hold: an expression or none, a matrix
within its bounds or ``NoGraph`` with a reason, never another exception."""

from __future__ import annotations

import math
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.graphs import NoGraph, Series, expression_of
from receiver.graphs.prometheus import parse_matrix
from receiver.graphs.render import legend_label, plain, render_png
from tests.conftest import examples
from tests.graphs.conftest import HOUR_END, HOUR_START

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["NaN", "+Inf", "-Inf", "1e308", "0x1p3", "matrix", "1.5"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
_VALUES = st.lists(
    st.tuples(st.integers(0, 2**40) | st.floats(allow_nan=True), st.text(max_size=8) | _JSON).map(
        list
    ),
    max_size=6,
)
_SERIES = st.fixed_dictionaries(
    {"metric": st.dictionaries(st.text(max_size=8), st.text(max_size=8) | _JSON, max_size=3)},
    optional={"values": _VALUES | _JSON},
)
_ANSWERS = st.one_of(
    _JSON,
    st.fixed_dictionaries(
        {
            "status": st.just("success"),
            "data": st.fixed_dictionaries(
                {
                    "resultType": st.sampled_from(["matrix", "vector", "scalar"]),
                    "result": st.lists(_SERIES, max_size=5) | _JSON,
                }
            ),
        }
    ),
)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ANSWERS, st.integers(1, 4), st.integers(1, 5))
def test_any_answer_is_a_bounded_matrix_or_no_graph(
    answer: Any, max_series: int, max_points: int
) -> None:
    if not isinstance(answer, dict):
        answer = {"data": answer}
    try:
        matrix = parse_matrix(answer, max_series, max_points, {"a": "1"})
    except NoGraph as exc:
        assert str(exc).startswith("Prometheus' answer")
        return
    assert len(matrix.series) <= max_series
    for series in matrix.series:
        assert len(series.points) <= max_points + 1
        assert all(isinstance(t, float) and isinstance(v, float) for t, v in series.points)
        assert series.peak == -math.inf or math.isfinite(series.peak)
        assert "\n" not in legend_label(series.labels)


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=200), st.text(max_size=60))
def test_any_generator_url_gives_an_expression_or_none(expression: str, host: str) -> None:
    url = f"http://{host}/graph?g0.expr={urllib.parse.quote(expression, safe='')}"
    found = expression_of(url)
    assert found is None or found == expression.strip() or "\ufffd" in found or "\x00" in found


@given(st.text(max_size=300), st.integers(2, 120))
def test_plain_text_is_one_line_within_its_limit(text: str, limit: int) -> None:
    shown = plain(text, limit)
    assert len(shown) <= limit
    assert all(c == " " or c.isprintable() for c in shown)


_POINTS = st.lists(
    st.tuples(
        st.floats(HOUR_START.timestamp() - 7200, HOUR_END.timestamp() + 7200),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    max_size=50,
).map(sorted)


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.builds(Series, st.dictionaries(st.text(max_size=20), st.text(max_size=40)), _POINTS).map(
            lambda s: Series(s.labels, tuple(s.points))
        ),
        max_size=4,
    ),
    st.text(max_size=200),
    st.integers(0, 500),
)
def test_any_series_draw_a_png(series: list[Series], title: str, omitted: int) -> None:
    png = render_png(
        series,
        start=HOUR_START,
        end=HOUR_END,
        started_at=HOUR_START,
        title=title,
        omitted=omitted,
        step_seconds=15,
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_values_at_the_ends_of_the_floats_draw_too() -> None:
    start = HOUR_START.timestamp()
    extremes = ((start, 1.7e308), (start + 15, -1.7e308), (start + 30, 1.0), (start + 45, 5e-324))
    png = render_png(
        [Series({"a": "1"}, extremes)],
        start=HOUR_START,
        end=HOUR_END,
        started_at=HOUR_START,
        title="extremes",
        step_seconds=15,
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
