"""The expression of a generator URL: only ``g0.expr`` is taken, whatever else the URL says."""

from __future__ import annotations

import urllib.parse

import pytest

from receiver.graphs import expression_of


def test_prometheus_generator_urls_carry_their_expression() -> None:
    url = "http://prometheus:9090/graph?g0.expr=rate%28errors%5B5m%5D%29+%3E+0.1&g0.tab=1"
    assert expression_of(url) == "rate(errors[5m]) > 0.1"


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        42,
        ["http://p/graph?g0.expr=up"],
        "http://grafana:3000/alerting/list",
        "http://p/graph?g0.expr=&g0.tab=1",
        "http://p/graph?g0.expr=%20%20",
        "http://p/graph?g1.expr=up",
        "http://[::1/graph?g0.expr=up",  # not a URL at all
        "http://p/graph?" + "a=1&" * 20_000 + "g0.expr=up",  # longer than any Prometheus makes
    ],
)
def test_anything_else_carries_none(url: object) -> None:
    assert expression_of(url) is None


def test_the_expression_is_taken_as_it_is_whatever_it_holds() -> None:
    hostile = 'up{job="x"} or vector(1)\n# "); DROP TABLE alerts; --'
    url = "http://attacker.example:666/evil?g0.expr=" + urllib.parse.quote(hostile, safe="")
    assert expression_of(url) == hostile
