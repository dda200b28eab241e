"""Runbooks: how their runs ended, and what their resolutions without a page saved."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from receiver.reports.common import Window, ratio, rounded, seconds, summarise
from receiver.store import Store
from receiver.store.reports import RunRow, paged_resolutions, run_rows


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
        durations[p.alertname].append(seconds(p.ends_at - p.starts_at))
    baseline = {name: statistics.fmean(found) for name, found in durations.items()}
    by_runbook: dict[str, list[RunRow]] = defaultdict(list)
    for run in runs:
        by_runbook[run.runbook].append(run)
    figures = [_runbook_figures(name, found, baseline) for name, found in by_runbook.items()]
    figures.sort(key=lambda f: (-f.runs, f.runbook))
    return RunbookReport(
        window=window,
        runbooks=tuple(figures),
        time_saved_seconds=rounded(sum(f.time_saved_seconds for f in figures)),
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
        saved += max(0.0, human - seconds(run.alert_ends_at - run.alert_starts_at))
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
        success_ratio=ratio(states["succeeded"], ended),
        median_run_seconds=summarise(
            [seconds(r.finished_at - r.created_at) for r in runs if r.finished_at is not None]
        ).median_seconds,
        resolved_without_page=len(resolved),
        time_saved_seconds=rounded(saved),
        without_baseline=without_baseline,
    )
