"""The alerts page's triage: its query parameters beyond the API's filters (``sort``, ``view``,
``snoozed``), the alerts of a page gathered by their Alertmanager group with the labels the
group shares, and the counts by severity and state as links that narrow the filter."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from multidict import MultiDict, MultiMapping
from yarl import URL

from receiver.errors import InvalidInput
from receiver.matchers import Matcher, MatchOp, format_matchers
from receiver.model import Alert, AlertCounts, AlertOrder, AlertQuery, AlertStatus, SortKey
from receiver.web.params import parse_alert_query


class View(StrEnum):
    GROUPED = "grouped"  # by Alertmanager group, the group's shared labels once at its head
    FLAT = "flat"  # one row per alert with all its labels


SORTS = (AlertOrder.NEWEST, AlertOrder.OLDEST, AlertOrder.SEVERITY)
_SNOOZED = {"true": True, "false": False}
_NAMES_SHOWN = 3  # alert names at the head of a group of several
# Parameters the console reads itself; the others are the API's filters.
_OWN = ("sort", "view", "snoozed", "cursor")


@dataclass(frozen=True, slots=True)
class Listing:
    """What the alerts page was asked for."""

    query: AlertQuery
    view: View
    params: MultiDict[str]  # the parameters given, empty ones left out


def _choice(params: MultiMapping[str], name: str, choices: Sequence[str], default: str) -> str:
    value = params.get(name, default)
    if value not in choices:
        expected = ", ".join(f'"{choice}"' for choice in choices)
        raise InvalidInput(name, f'expected one of {expected}, got "{value[:64]}"')
    return value


def parse_listing(params: MultiMapping[str], now: datetime) -> Listing:
    """The page's parameters → what to list, naming the parameter that is wrong. A field left
    empty (a form sends its every field) means its default, as a parameter left out does."""
    given: MultiDict[str] = MultiDict((k, v) for k, v in params.items() if v.strip())
    query = parse_alert_query(MultiDict((k, v) for k, v in given.items() if k not in _OWN), now)
    order = AlertOrder(_choice(given, "sort", SORTS, AlertOrder.NEWEST))
    view = View(_choice(given, "view", tuple(View), View.GROUPED))
    snoozed = None
    if "snoozed" in given:
        snoozed = _SNOOZED[_choice(given, "snoozed", tuple(_SNOOZED), "")]
    after = None
    if "cursor" in given:
        after = SortKey.decode(given["cursor"])
        if after is None:
            raise InvalidInput("cursor", "expected the cursor of the link to the next page")
    query = dataclasses.replace(query, order=order, after=after, snoozed=snoozed, now=now)
    return Listing(query, view, given)


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """Alerts of one Alertmanager group on a page, and the labels they all carry alike."""

    key: str
    alerts: tuple[Alert, ...]
    common: Mapping[str, str]

    @property
    def title(self) -> str:
        """The alert name the group shares, else its alert names (the first three)."""
        names = list(dict.fromkeys(a.labels.get("alertname") or "—" for a in self.alerts))
        shown = ", ".join(names[:_NAMES_SHOWN])
        return shown + (f" +{len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")

    def own_labels(self, alert: Alert) -> dict[str, str]:
        """The labels that set ``alert`` apart within its group."""
        return {name: value for name, value in alert.labels.items() if name not in self.common}


def common_labels(alerts: Sequence[Alert]) -> dict[str, str]:
    """The labels every alert carries with the same value."""
    if not alerts:
        return {}
    shared = dict(alerts[0].labels)
    for alert in alerts[1:]:
        shared = {name: value for name, value in shared.items() if alert.labels.get(name) == value}
    return shared


def group_alerts(alerts: Sequence[Alert]) -> list[AlertGroup]:
    """The alerts by group key, each group where its first alert is in the page's order and
    its alerts in that order."""
    by_key: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_key.setdefault(alert.group_key, []).append(alert)
    return [
        AlertGroup(key, tuple(members), common_labels(members)) for key, members in by_key.items()
    ]


def flat(alerts: Sequence[Alert]) -> list[AlertGroup]:
    """The alerts as one list, each with all its labels (none when there are none)."""
    return [AlertGroup("", tuple(alerts), {})] if alerts else []


@dataclass(frozen=True, slots=True)
class CountLink:
    """One figure of the counts: what it counts, how many, and the page filtered to them
    (None when there are none to show)."""

    name: str
    count: int
    href: str | None
    kind: str  # "severity" or "state", for the page's colours


def _link(path: str, params: MultiDict[str], changes: Mapping[str, str | list[str]]) -> str:
    """The page with ``params`` changed as given, from its first page."""
    updated = MultiDict((k, v) for k, v in params.items() if k not in changes and k != "cursor")
    for name, value in changes.items():
        for one in [value] if isinstance(value, str) else value:
            updated.add(name, one)
    return str(URL(path).with_query(updated))


def _with_severity(groups: tuple[tuple[Matcher, ...], ...], severity: str) -> list[str]:
    """The ``match[]`` filter narrowed to one severity: every group gets the matcher."""
    matcher = Matcher("severity", MatchOp.EQ, severity)
    return [format_matchers((*group, matcher)) for group in groups or ((),)]


# Each state as a narrowing of the filter: the parameters that select it.
_STATES: tuple[tuple[str, dict[str, str]], ...] = (
    ("firing", {"status": AlertStatus.FIRING}),
    ("unacknowledged", {"status": AlertStatus.FIRING, "acknowledged": "false"}),
    ("acknowledged", {"status": AlertStatus.FIRING, "acknowledged": "true"}),
    ("snoozed", {"status": AlertStatus.FIRING, "snoozed": "true"}),
    ("resolved", {"status": AlertStatus.RESOLVED}),
)


def count_links(counts: AlertCounts, listing: Listing, path: str) -> list[CountLink]:
    """The counts by severity (worst first) then by state, each a link to the page narrowed
    to what it counts. Counts are over the current filter, so a link only ever narrows it."""
    links = [
        CountLink(
            severity,
            count,
            _link(
                path, listing.params, {"match[]": _with_severity(listing.query.matchers, severity)}
            ),
            "severity",
        )
        for severity, count in counts.severities
    ]
    for name, changes in _STATES:
        count = getattr(counts, name)
        href = _link(path, listing.params, changes) if count else None
        links.append(CountLink(name, count, href, "state"))
    return links


def sort_link(listing: Listing, path: str, order: AlertOrder) -> str:
    return _link(path, listing.params, {"sort": order.value})


def view_link(listing: Listing, path: str, view: View) -> str:
    return _link(path, listing.params, {"view": view.value})
