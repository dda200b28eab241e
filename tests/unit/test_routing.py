"""Routing alerts to escalation policies with Alertmanager's semantics."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.config import Config, DefaultRouteConfig, RouteConfig, parse_config
from receiver.errors import MatcherError
from receiver.routing import DEFAULT_ROUTE, RouteMatch, Router

ROUTES = """
escalation_policies:
  critical: {tiers: [{notify: [log]}]}
  db: {tiers: [{notify: [log]}]}
  audit: {tiers: [{notify: [log]}]}
  web: {tiers: [{notify: [log]}]}
  anchored: {tiers: [{notify: [log]}]}
  catch-all: {tiers: [{notify: [log]}]}
routes:
  - name: audit                       # sees everything from prod, and lets the others see it too
    match: 'env="prod"'
    escalation_policy: audit
    continue: true
  - name: database
    match: ['team="db"', 'severity=~"critical|page"']
    escalation_policy: db
  - name: database-too                # never reached by what "database" takes
    match: 'team="db"'
    escalation_policy: critical
    continue: true
  - match: '{service=~"web|api", severity!="info"}'
    escalation_policy: web
  - name: anchored
    match: 'instance=~"db-[0-9]+"'
    escalation_policy: anchored
  - name: not-staging
    match: ['env!~"stag.*"', 'alertname="Watchdog"']
    escalation_policy: catch-all
default_route: {escalation_policy: default}
"""


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(parse_config(ROUTES, source="r.yml", env={}))


def routed(router: Router, labels: dict[str, str]) -> list[str]:
    return [f"{m.route} -> {m.escalation_policy}" for m in router.route(labels)]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # Nothing matches: the default route.
        ({}, ["default -> default"]),
        ({"alertname": "X"}, ["default -> default"]),
        # The first match wins and stops evaluation.
        ({"team": "db", "severity": "critical"}, ["database -> db"]),
        ({"team": "db", "severity": "page"}, ["database -> db"]),
        # All matchers of a route must match: severity=warning falls through to the next route.
        ({"team": "db", "severity": "warning"}, ["database-too -> critical"]),
        # continue: true lets later routes match too, and the default is then not used...
        ({"env": "prod"}, ["audit -> audit"]),
        (
            {"env": "prod", "team": "db", "severity": "critical"},
            ["audit -> audit", "database -> db"],
        ),
        # ...and a continuing route that matches last leaves the routes after it to match.
        (
            {"team": "db", "severity": "warning", "service": "api"},
            ["database-too -> critical", "routes[3] -> web"],
        ),
        # An unnamed route is called routes[N]; != matches a missing label.
        ({"service": "web"}, ["routes[3] -> web"]),
        ({"service": "api", "severity": "info"}, ["default -> default"]),
        # Regexes are anchored at both ends, as in Alertmanager.
        ({"service": "webby"}, ["default -> default"]),
        ({"service": "my-web"}, ["default -> default"]),
        ({"instance": "db-12"}, ["anchored -> anchored"]),
        ({"instance": "db-12.example.com"}, ["default -> default"]),
        ({"instance": "xdb-12"}, ["default -> default"]),
        ({"instance": "db-12\n"}, ["default -> default"]),
        # !~ matches a missing label (it is the empty string).
        ({"alertname": "Watchdog"}, ["not-staging -> catch-all"]),
        ({"alertname": "Watchdog", "env": "staging"}, ["default -> default"]),
        ({"alertname": "Watchdog", "env": "prod"}, ["audit -> audit", "not-staging -> catch-all"]),
    ],
)
def test_routing_table(router: Router, labels: dict[str, str], expected: list[str]) -> None:
    assert routed(router, labels) == expected


def test_route_matches_are_values() -> None:
    router = Router(parse_config(ROUTES, source="r.yml", env={}))
    assert router.route({"team": "db", "severity": "page"}) == (RouteMatch("database", "db"),)
    assert router.route({}) == (RouteMatch(DEFAULT_ROUTE, "default"),)
    assert DEFAULT_ROUTE == "default"


def test_empty_match_matches_everything() -> None:
    config = parse_config(
        textwrap.dedent(
            """
            routes:
              - {name: first, escalation_policy: default, continue: true}
              - {name: all, match: [], escalation_policy: default}
              - {name: never, escalation_policy: default}
            """
        ),
        env={},
    )
    router = Router(config)
    for labels in ({}, {"a": "b"}):
        assert routed(router, labels) == ["first -> default", "all -> default"]


def test_no_routes_send_everything_to_the_default_route() -> None:
    assert Router(Config()).route({"a": "b"}) == (RouteMatch("default", "default"),)
    config = Config(default_route=DefaultRouteConfig(escalation_policy="p"))
    assert Router(config).route({}) == (RouteMatch("default", "p"),)


def test_config_built_in_code() -> None:
    # Routes without names (the loader would have named them) are called routes[N].
    config = Config(
        routes=(
            RouteConfig(match=('a="1"', 'b="2"'), escalation_policy="x"),
            RouteConfig(match=("{a=~'1'}",), escalation_policy="y"),
        )
    )
    router = Router(config)
    assert router.route({"a": "1", "b": "2"}) == (RouteMatch("routes[0]", "x"),)
    assert router.route({"a": "1"}) == (RouteMatch("default", "default"),)
    with pytest.raises(MatcherError, match=r"routes\[0\]\.match"):
        Router(Config(routes=(RouteConfig(match=('a=~"("',), escalation_policy="x"),)))


def test_matchers_from_several_strings_must_all_match() -> None:
    config = Config(routes=(RouteConfig(match=('{a="1", b="2"}', 'c="3"'), escalation_policy="x"),))
    router = Router(config)
    assert router.route({"a": "1", "b": "2", "c": "3"})[0].route == "routes[0]"
    assert router.route({"a": "1", "b": "2"})[0].route == "default"


LABEL_VALUES = st.sampled_from(["", "db", "web", "critical", "page", "prod", "staging", "x"])
LABELS = st.dictionaries(
    st.sampled_from(["team", "severity", "env", "service", "instance", "alertname"]),
    LABEL_VALUES,
)


@given(LABELS)
def test_routing_invariants(labels: dict[str, str]) -> None:
    config = parse_config(ROUTES, source="r.yml", env={})
    found = Router(config).route(labels)
    assert found  # never empty
    names = [m.route for m in found]
    assert len(names) == len(set(names))
    if names == ["default"]:
        return
    assert "default" not in names
    # In configuration order, and every match but the last comes from a continuing route.
    order = {route.name: index for index, route in enumerate(config.routes)}
    assert names == sorted(names, key=order.__getitem__)
    assert all(config.routes[order[name]].continue_ for name in names[:-1])
