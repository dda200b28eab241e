"""Wall-clock time in a zone, as instants: what a handoff at 09:00 Europe/London means on the
days the clocks change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the naive wall-clock time ``wall`` in ``zone``.

    A time that happens twice (clocks go back) is its first occurrence; a time that never
    happens (clocks go forward) is the moment the clocks jumped past it, so a handoff at 02:30
    on the night New York skips from 02:00 to 03:00 happens at 03:00 local time, and a run of
    wall-clock times maps to instants in the same order.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap, fold=0 reads the time with the offset before the jump and fold=1 with the one
    # after; the jump lies between the two readings. Offsets change on whole seconds.
    low = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def local(at: datetime, zone: ZoneInfo) -> datetime:
    """``at`` as naive wall-clock time in ``zone``."""
    return at.astimezone(zone).replace(tzinfo=None)


def require_aware(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name}: expected an aware datetime")
    return at.astimezone(UTC)


DAY = timedelta(days=1)
