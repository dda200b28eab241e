"""The noisiest alerts: how often each fires, flaps, ends by itself or goes unanswered, and
what to change about it."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import groupby

from receiver.durations import format_duration
from receiver.model import AlertStatus
from receiver.reports.common import Window, seconds, summarise
from receiver.store import Store
from receiver.store.reports import OccurrenceRow, occurrence_rows

DEFAULT_FLAP_WINDOW = timedelta(hours=1)

# The label an Alertmanager inhibition rule most often compares: one service's alerts.
DEFAULT_INHIBIT_EQUAL: tuple[str, ...] = ("service",)

# Suggestion thresholds: the share of an alert's occurrences showing a pattern, and at least
# two of them (one occurrence is an anecdote, not a pattern).
FLAPPING_SHARE = 0.25
COFIRING_SHARE = 0.5
AUTO_RESOLVED_SHARE = 0.5
NEVER_ACTED_SHARE = 0.8
MIN_PATTERN = 2
# Auto-resolving alerts whose median life is this short are better held back by ``for:``;
# longer ones resolve slowly by themselves, which a threshold tells better.
SHORT_LIVED = timedelta(minutes=10)

_FOREVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Suggestion:
    action: str | None  # raise_for | add_inhibition | tune_threshold; None: nothing to change
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class NoiseItem:
    alertname: str
    severities: tuple[str, ...]
    occurrences: int
    fingerprints: int
    flapping: int
    auto_resolved: int
    never_acted_on: int
    paged: int
    still_firing: int
    cofiring: int
    cofiring_with: str | None  # the alert most often already firing when it started
    median_duration_seconds: float | None  # of its ended occurrences
    suggestion: Suggestion


@dataclass(frozen=True, slots=True)
class NoiseReport:
    window: Window
    flap_window: timedelta
    inhibit_equal: tuple[str, ...]
    alerts: tuple[NoiseItem, ...]  # noisiest first
    total_alertnames: int


async def noise_report(
    store: Store,
    window: Window,
    *,
    limit: int = 20,
    flap_window: timedelta = DEFAULT_FLAP_WINDOW,
    inhibit_equal: Sequence[str] = DEFAULT_INHIBIT_EQUAL,
) -> NoiseReport:
    """The noisiest alerts by name: most occurrences first, then most flapping, each with a
    suggestion and its reason."""
    async with store.connection() as conn:
        rows = await occurrence_rows(conn, window.since, window.until, flap_window, inhibit_equal)
    cofired = _cofiring(rows)
    by_name: dict[str, list[OccurrenceRow]] = defaultdict(list)
    for row in rows:
        if window.since <= row.starts_at < window.until:
            by_name[row.alertname].append(row)
    items = [
        _noise_item(name, found, cofired, flap_window, tuple(inhibit_equal))
        for name, found in by_name.items()
    ]
    items.sort(key=lambda i: (-i.occurrences, -i.flapping, i.alertname))
    return NoiseReport(
        window=window,
        flap_window=flap_window,
        inhibit_equal=tuple(inhibit_equal),
        alerts=tuple(items[:limit]),
        total_alertnames=len(items),
    )


def _noise_item(
    alertname: str,
    rows: list[OccurrenceRow],
    cofired: dict[int, str],
    flap_window: timedelta,
    inhibit_equal: tuple[str, ...],
) -> NoiseItem:
    flapping = sum(
        1
        for r in rows
        if r.previous_ends_at is not None and r.starts_at - r.previous_ends_at <= flap_window
    )
    auto_resolved = [r for r in rows if r.status is AlertStatus.RESOLVED and not r.acted]
    sources = Counter(cofired[r.alert_id] for r in rows if r.alert_id in cofired)
    # The most frequent source; ties go to the first name, so the answer is stable.
    source = min(sources, key=lambda n: (-sources[n], n)) if sources else None
    durations = [seconds(r.ends_at - r.starts_at) for r in rows if r.ends_at is not None]
    item = NoiseItem(
        alertname=alertname,
        severities=tuple(sorted({r.severity for r in rows})),
        occurrences=len(rows),
        fingerprints=len({r.fingerprint for r in rows}),
        flapping=flapping,
        auto_resolved=len(auto_resolved),
        never_acted_on=sum(1 for r in rows if not r.acted),
        paged=sum(1 for r in rows if r.paged),
        still_firing=sum(1 for r in rows if r.status is AlertStatus.FIRING),
        cofiring=sum(sources.values()),
        cofiring_with=source,
        median_duration_seconds=summarise(durations).median_seconds,
        suggestion=Suggestion(None, "", ""),
    )
    auto_median = summarise(
        [seconds(r.ends_at - r.starts_at) for r in auto_resolved if r.ends_at is not None]
    ).median_seconds
    suggestion = suggest(item, flap_window, inhibit_equal, auto_median)
    return replace(item, suggestion=suggestion)


def suggest(
    item: NoiseItem,
    flap_window: timedelta,
    inhibit_equal: Sequence[str],
    auto_resolved_median_seconds: float | None,
) -> Suggestion:
    """The first rule that applies: flapping → raise ``for:``; co-firing → inhibition;
    short-lived and resolving by itself → raise ``for:``; nobody acts → tune the threshold."""
    n = item.occurrences

    def pattern(count: int, share: float) -> bool:
        return count >= MIN_PATTERN and count >= share * n

    if pattern(item.flapping, FLAPPING_SHARE):
        return Suggestion(
            "raise_for",
            "raise `for:` (or set `keep_firing_for:`) on the alerting rule",
            f"{item.flapping} of {n} occurrences fired again within "
            f"{format_duration(flap_window)} of the previous one resolving",
        )
    if item.cofiring_with is not None and pattern(item.cofiring, COFIRING_SHARE):
        equal = ", ".join(inhibit_equal)
        return Suggestion(
            "add_inhibition",
            f"add an inhibition rule: {item.cofiring_with} inhibits {item.alertname}, "
            f"equal: [{equal}]",
            f"{item.cofiring} of {n} occurrences started while another alert, most often "
            f"{item.cofiring_with}, was already firing with the same {equal}",
        )
    if (
        auto_resolved_median_seconds is not None
        and auto_resolved_median_seconds <= SHORT_LIVED.total_seconds()
        and pattern(item.auto_resolved, AUTO_RESOLVED_SHARE)
    ):
        median = format_duration(timedelta(seconds=round(auto_resolved_median_seconds)))
        return Suggestion(
            "raise_for",
            "raise `for:` on the alerting rule so short blips do not fire",
            f"{item.auto_resolved} of {n} occurrences resolved by themselves after a median "
            f"of {median}, with nobody acting",
        )
    if pattern(item.never_acted_on, NEVER_ACTED_SHARE):
        return Suggestion(
            "tune_threshold",
            "tune the threshold, or send it as a ticket rather than a page",
            f"nobody acted on {item.never_acted_on} of {n} occurrences",
        )
    return Suggestion(None, "no change suggested", "")


def _cofiring(rows: Sequence[OccurrenceRow]) -> dict[int, str]:
    """Occurrence id → the name of an alert of another name already firing, with the same
    values of the compared labels, when it started (the first such name). A sweep over each
    label set's occurrences in start order, with a heap of the ones still firing."""
    by_labels: dict[tuple[str | None, ...], list[OccurrenceRow]] = defaultdict(list)
    for row in rows:
        if row.equal and None not in row.equal:
            by_labels[row.equal].append(row)
    found: dict[int, str] = {}
    for group in by_labels.values():
        group.sort(key=lambda r: r.starts_at)
        firing: list[tuple[datetime, int, str]] = []  # (ends, id, alertname)
        names: Counter[str] = Counter()
        for start, same in groupby(group, key=lambda r: r.starts_at):
            starting = list(same)
            while firing and firing[0][0] <= start:
                names[heapq.heappop(firing)[2]] -= 1
            for row in starting:
                others = sorted(n for n, c in names.items() if c > 0 and n != row.alertname)
                if others:
                    found[row.alert_id] = others[0]
            for row in starting:
                heapq.heappush(firing, (row.ends_at or _FOREVER, row.alert_id, row.alertname))
                names[row.alertname] += 1
    return found
