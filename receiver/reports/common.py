"""What every report shares: the window, and durations summarised the same way."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from receiver.model import Clock


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


def summarise(seconds: Sequence[float]) -> Durations:
    """Count, mean, median and nearest-rank 90th percentile of durations in seconds."""
    if not seconds:
        return Durations(0, None, None, None)
    ordered = sorted(seconds)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]
    return Durations(
        count=len(ordered),
        mean_seconds=rounded(statistics.fmean(ordered)),
        median_seconds=rounded(statistics.median(ordered)),
        p90_seconds=rounded(p90),
    )


def seconds(delta: timedelta) -> float:
    """A duration in seconds; a negative one (clocks disagreeing) counts as none."""
    return max(0.0, delta.total_seconds())


def rounded(value: float) -> float:
    return round(value, 3)


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
