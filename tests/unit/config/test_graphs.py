"""The ``graphs:`` section: Prometheus to ask and the bounds of a graph; errors name the key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from receiver.config import parse_config
from tests.unit.config.common import SECRET, problems


def test_graphs_are_off_unless_configured() -> None:
    assert parse_config("").graphs is None


def test_a_graphs_section_with_its_defaults() -> None:
    config = parse_config(
        "graphs: {prometheus_url: 'http://prom:9090', bearer_token: '${TOKEN}', range: 30m}",
        env={"TOKEN": SECRET},
    )
    graphs = config.graphs
    assert graphs is not None
    assert graphs.prometheus_url == "http://prom:9090"
    assert graphs.bearer_token == SECRET and SECRET not in repr(graphs)
    assert (graphs.range, graphs.timeout, graphs.points) == (
        timedelta(minutes=30),
        timedelta(seconds=5),
        240,
    )
    assert (graphs.max_series, graphs.max_image_bytes) == (10, 512 * 1024)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("graphs: {}", "f.yml:1:1: graphs.prometheus_url: required key is missing"),
        (
            "graphs: {prometheus_url: prom:9090}",
            "f.yml:1:10: graphs.prometheus_url: expected a URL starting with http:// or https://",
        ),
        (
            "graphs: {prometheus_url: 'http://p', timeout: 0s}",
            "f.yml:1:38: graphs.timeout: must be longer than 0s",
        ),
        (
            "graphs: {prometheus_url: 'http://p', max_series: 0}",
            "f.yml:1:38: graphs.max_series: must be greater than 0",
        ),
        (
            "graphs: {prometheus_url: 'http://p', points: 20000, range: 10h}",
            "f.yml:1:38: graphs.points: must be at most 11000 (Prometheus' limit)",
        ),
        (
            "graphs: {prometheus_url: 'http://p', range: 1m}",
            "f.yml:1:38: graphs.range: must be at least one second per point",
        ),
        (
            "graphs: {prometheus_url: 'http://p', bearer_token: t,"
            " basic_auth: {username: u, password: p}}",
            "f.yml:1:55: graphs.basic_auth: give bearer_token or basic_auth, not both",
        ),
        (
            "graphs: {prometheus_url: 'http://p', max_image_bytes: lots}",
            'f.yml:1:38: graphs.max_image_bytes: expected an integer, got "lots"',
        ),
        (
            "graphs: {prometheus_url: 'http://p', generator_hosts: [evil]}",
            "f.yml:1:38: graphs.generator_hosts: unknown key; expected one of: basic_auth,",
        ),
    ],
)
def test_graphs_problems_name_the_key(text: str, problem: str) -> None:
    (found,) = problems(text)
    assert found.startswith(problem)
