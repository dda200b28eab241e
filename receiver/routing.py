"""Which escalation policy an alert goes to: ``routes`` evaluated as Alertmanager does.

Routes are tried in order against the alert's labels. The first route whose matchers all match
wins and evaluation stops, unless that route has ``continue: true``, in which case the routes
after it are tried as well and every match counts. An alert that no route matches goes to
``default_route`` (reported as the route named ``default``). A route without matchers matches
every alert. Matchers follow ``receiver.matchers``: regexes must match the whole label value and
a missing label counts as the empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from receiver.config import Config
from receiver.matchers import Matcher, parse_matchers

__all__ = ["DEFAULT_ROUTE", "RouteMatch", "Router"]

DEFAULT_ROUTE = "default"
"""The route name reported for alerts that no route matches."""


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """One route an alert matched and the escalation policy it leads to."""

    route: str  # the route's name, "routes[N]" when it has none, or DEFAULT_ROUTE
    escalation_policy: str


@dataclass(frozen=True, slots=True)
class _Route:
    matchers: tuple[Matcher, ...]
    continue_: bool
    match: RouteMatch


class Router:
    """Routes label sets with one configuration's routes; pure, and cheap enough per alert."""

    __slots__ = ("_default", "_routes")

    def __init__(self, config: Config) -> None:
        """Parse every route's matchers once.

        Raises ``MatcherError`` for a malformed matcher, which only a ``Config`` built in code
        can hold: the loader rejects them.
        """
        self._routes = tuple(
            _Route(
                matchers=tuple(
                    matcher
                    for text in route.match
                    for matcher in parse_matchers(text, field=f"routes[{index}].match")
                ),
                continue_=route.continue_,
                match=RouteMatch(route.name or f"routes[{index}]", route.escalation_policy),
            )
            for index, route in enumerate(config.routes)
        )
        self._default = (RouteMatch(DEFAULT_ROUTE, config.default_route.escalation_policy),)

    def route(self, labels: Mapping[str, str]) -> tuple[RouteMatch, ...]:
        """The routes ``labels`` match, in configuration order; ``(default,)`` when none does."""
        found: list[RouteMatch] = []
        for route in self._routes:
            # A plain loop rather than all(): no generator per route on this hot path.
            for matcher in route.matchers:
                if not matcher.matches(labels):
                    break
            else:
                found.append(route.match)
                if not route.continue_:
                    break
        return tuple(found) if found else self._default
