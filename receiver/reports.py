"""Alert-quality reports: how fast people respond, which alerts are noise, what runbooks save.

Each report is one function over the store and a time window, returning frozen values that
the API serialises and the console renders. The store reads the rows in one set-based
statement per report (``receiver.store.reports``); the figures are computed here, from
occurrences that started in the window (executions created in it), as they stand now.

Definitions (the README's "Reports" section says the same):

- **MTTA**: from the occurrence's start (Alertmanager's ``startsAt``) to its first
  acknowledgement by a person, over the acknowledged occurrences.
- **MTTR**: from the start to the end (Alertmanager's ``endsAt``, or when a person resolved
  it), over the ended occurrences.
- Each as ``mean``, ``median`` (the middle value, or the mean of the two middle ones) and
  ``p90`` (nearest rank: the smallest value at least 90% of the values are at or under).
- **Paged**: a firing notice or a digest about the occurrence went out on some channel.
- **Acknowledged within target**: acknowledged no later than ``ack_target`` after the start;
  its share is over the occurrences that were paged or acknowledged (those that asked for a
  response).
- **Acted on**: a person acknowledged, resolved, snoozed or silenced it, or started a runbook
  on it by hand. **Never acted on**: none of that, however it ended. **Auto-resolved**: ended
  by Alertmanager with nobody having acted on it.
- **Flapping**: an occurrence that started within ``flap_window`` of the previous occurrence
  of the same fingerprint ending (a fired/resolved/fired cycle).
- **Co-firing**: an occurrence that started while an alert of another name was already firing
  with the same values of the ``inhibit_equal`` labels (all present).
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import groupby

from receiver.durations import format_duration
from receiver.model import AlertStatus, Clock
from receiver.store import Store
from receiver.store.reports import (
    OccurrenceRow,
    ResponseRow,
    RunRow,
    occurrence_rows,
    paged_resolutions,
    response_rows,
    run_rows,
)

DEFAULT_ACK_TARGET = timedelta(minutes=5)
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
class Window:
    """Occurrences that started at or after ``since`` and before ``until``."""

    since: datetime
    until: datetime

    @classmethod
    def last(cls, span: timedelta, clock: Clock) -> Window:
        now = clock()
        return cls(now - span, now)


@dataclass(frozen=True, slots=True)
class Durations:
    """Summary of durations in seconds; None where there are none."""

    count: int
    mean_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True, slots=True)
class ResponseFigures:
    alerts: int
    paged: int
    acknowledged: int
    resolved: int
    mtta: Durations
    mttr: Durations
    ack_target_eligible: int  # paged or acknowledged
    ack_within_target: int
    ack_within_target_share: float | None


@dataclass(frozen=True, slots=True)
class ResponseGroup:
    group: str  # the route (or the label's value)
    severity: str
    figures: ResponseFigures


@dataclass(frozen=True, slots=True)
class ResponseReport:
    window: Window
    by: str  # "route", or "label:NAME"
    ack_target: timedelta
    groups: tuple[ResponseGroup, ...]
    overall: ResponseFigures  # every occurrence once, whatever routes it took


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


@dataclass(frozen=True, slots=True)
class RunbookFigures:
    runbook: str
    runs: int
    automatic: int
    succeeded: int
    failed: int
    rolled_back: int
    cancelled: int
    skipped: int  # held back by storm control
    unfinished: int
    success_ratio: float | None  # succeeded / (succeeded + failed + rolled_back)
    median_run_seconds: float | None  # creation to end, of the runs that ended
    resolved_without_page: int
    time_saved_seconds: float
    without_baseline: int  # resolutions with no paged occurrence of the alert to compare to


@dataclass(frozen=True, slots=True)
class RunbookReport:
    window: Window
    runbooks: tuple[RunbookFigures, ...]  # most runs first
    time_saved_seconds: float


# -- response ------------------------------------------------------------------------------------


async def response_report(
    store: Store,
    window: Window,
    *,
    ack_target: timedelta = DEFAULT_ACK_TARGET,
    by_label: str | None = None,
) -> ResponseReport:
    """MTTA, MTTR and acknowledgements within ``ack_target``, by route (or by the value of
    the label ``by_label``) and severity."""
    async with store.connection() as conn:
        rows = await response_rows(conn, window.since, window.until, by_label)
    keyed: dict[tuple[str, str], list[ResponseRow]] = defaultdict(list)
    distinct: dict[int, ResponseRow] = {}
    for row in rows:
        keyed[(row.group, row.severity)].append(row)
        distinct.setdefault(row.alert_id, row)
    return ResponseReport(
        window=window,
        by="route" if by_label is None else f"label:{by_label}",
        ack_target=ack_target,
        groups=tuple(
            ResponseGroup(group, severity, _response_figures(found, ack_target))
            for (group, severity), found in sorted(keyed.items())
        ),
        overall=_response_figures(distinct.values(), ack_target),
    )


def _response_figures(rows: Iterable[ResponseRow], ack_target: timedelta) -> ResponseFigures:
    rows = list(rows)
    to_ack = [
        _seconds(r.acknowledged_at - r.starts_at) for r in rows if r.acknowledged_at is not None
    ]
    to_resolve = [_seconds(r.ends_at - r.starts_at) for r in rows if r.ends_at is not None]
    eligible = sum(1 for r in rows if r.paged or r.acknowledged_at is not None)
    within = sum(1 for s in to_ack if s <= ack_target.total_seconds())
    return ResponseFigures(
        alerts=len(rows),
        paged=sum(1 for r in rows if r.paged),
        acknowledged=len(to_ack),
        resolved=len(to_resolve),
        mtta=summarise(to_ack),
        mttr=summarise(to_resolve),
        ack_target_eligible=eligible,
        ack_within_target=within,
        ack_within_target_share=_ratio(within, eligible),
    )


# -- noise ---------------------------------------------------------------------------------------


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
    durations = [_seconds(r.ends_at - r.starts_at) for r in rows if r.ends_at is not None]
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
        [_seconds(r.ends_at - r.starts_at) for r in auto_resolved if r.ends_at is not None]
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


# -- runbooks ------------------------------------------------------------------------------------


async def runbook_report(store: Store, window: Window) -> RunbookReport:
    """Per runbook: runs and outcomes, success ratio, resolutions without a page and the time
    they saved against the mean time to resolve of paged occurrences of the same alert."""
    async with store.connection() as conn:
        runs = await run_rows(conn, window.since, window.until)
        automated = [r for r in runs if _resolved_without_page(r)]
        paged = await paged_resolutions(
            conn, window.since, window.until, [r.alertname for r in automated if r.alertname]
        )
    durations: dict[str, list[float]] = defaultdict(list)
    for p in paged:
        durations[p.alertname].append(_seconds(p.ends_at - p.starts_at))
    baseline = {name: statistics.fmean(found) for name, found in durations.items()}
    by_runbook: dict[str, list[RunRow]] = defaultdict(list)
    for run in runs:
        by_runbook[run.runbook].append(run)
    figures = [_runbook_figures(name, found, baseline) for name, found in by_runbook.items()]
    figures.sort(key=lambda f: (-f.runs, f.runbook))
    return RunbookReport(
        window=window,
        runbooks=tuple(figures),
        time_saved_seconds=_round(sum(f.time_saved_seconds for f in figures)),
    )


def _resolved_without_page(run: RunRow) -> bool:
    """A run that succeeded for an alert that then ended by itself: nobody was paged about it
    and no person acted on it."""
    return (
        run.state == "succeeded"
        and run.alert_ends_at is not None
        and run.alert_starts_at is not None
        and run.alert_ends_at >= run.created_at
        and not run.paged
        and not run.acted
    )


def _runbook_figures(name: str, runs: list[RunRow], baseline: dict[str, float]) -> RunbookFigures:
    states = Counter(r.state for r in runs)
    saved = 0.0
    without_baseline = 0
    resolved = [r for r in runs if _resolved_without_page(r)]
    for run in resolved:
        assert run.alert_ends_at is not None and run.alert_starts_at is not None
        human = baseline.get(run.alertname or "")
        if human is None:
            without_baseline += 1
            continue
        saved += max(0.0, human - _seconds(run.alert_ends_at - run.alert_starts_at))
    ended = states["succeeded"] + states["failed"] + states["rolled_back"]
    known = ("succeeded", "failed", "rolled_back", "cancelled", "skipped")
    return RunbookFigures(
        runbook=name,
        runs=len(runs),
        automatic=sum(1 for r in runs if r.trigger == "auto"),
        succeeded=states["succeeded"],
        failed=states["failed"],
        rolled_back=states["rolled_back"],
        cancelled=states["cancelled"],
        skipped=states["skipped"],
        unfinished=sum(c for s, c in states.items() if s not in known),
        success_ratio=_ratio(states["succeeded"], ended),
        median_run_seconds=summarise(
            [_seconds(r.finished_at - r.created_at) for r in runs if r.finished_at is not None]
        ).median_seconds,
        resolved_without_page=len(resolved),
        time_saved_seconds=_round(saved),
        without_baseline=without_baseline,
    )


# -- figures -------------------------------------------------------------------------------------


def summarise(seconds: Sequence[float]) -> Durations:
    """Count, mean, median and nearest-rank 90th percentile of durations in seconds."""
    if not seconds:
        return Durations(0, None, None, None)
    ordered = sorted(seconds)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]
    return Durations(
        count=len(ordered),
        mean_seconds=_round(statistics.fmean(ordered)),
        median_seconds=_round(statistics.median(ordered)),
        p90_seconds=_round(p90),
    )


def _seconds(delta: timedelta) -> float:
    """A duration in seconds; a negative one (clocks disagreeing) counts as none."""
    return max(0.0, delta.total_seconds())


def _round(value: float) -> float:
    return round(value, 3)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
