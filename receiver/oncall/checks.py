"""What is wrong with schedules over a stretch of time: gaps in coverage (start and end in the
schedule's zone), layers that never apply, and people a calendar names whom ``people`` does
not know. ``firebreak check-config`` and ``firebreak schedules check`` print these."""

from __future__ import annotations

from collections.abc import Callable, Set
from datetime import datetime
from zoneinfo import ZoneInfo

from receiver.oncall.engine import OnCall


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """``Sat 2026-01-10 18:00 GMT``: a time as the schedule's people read it."""
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def coverage_problems(
    oncall: OnCall,
    start: datetime,
    end: datetime,
    unknown: Callable[[str], Set[str]] | None = None,
    schedule_ids: tuple[str, ...] | None = None,
) -> list[str]:
    """Every problem of the schedules (those named, else all) from ``start`` to ``end``;
    ``unknown(schedule)``: the names its calendar gave that are nobody's, asked once its
    events over the range were read."""
    problems: list[str] = []
    for schedule in oncall.schedules:
        if schedule_ids is not None and schedule.id not in schedule_ids:
            continue
        sid, zone = schedule.id, ZoneInfo(schedule.time_zone)
        for gap in oncall.gaps(sid, start, end):
            problems.append(
                f"schedule {sid}: nobody on call from {local_time(gap.start, zone)} "
                f"to {local_time(gap.end, zone)} ({schedule.time_zone})"
            )
        shown = {s.layer for s in oncall.shifts(sid, start, end) if s.source == "layer"}
        own = oncall.layer_shifts(sid, start, end)
        for n, layer in enumerate(schedule.layers):
            if n in shown:
                continue
            name = f"layers[{n}]" + (f" ({layer.name})" if layer.name else "")
            why = (
                "has nobody then (its start date or restrictions)"
                if not own[n]
                else "is covered by the layers after it all the time"
            )
            problems.append(
                f"schedule {sid}: {name} never applies from {local_time(start, zone)} to "
                f"{local_time(end, zone)}: it {why}"
            )
        for name in sorted(unknown(sid) if unknown is not None else ()):
            problems.append(
                f"schedule {sid}: the calendar names {name[:80]!r}, who is not in people"
            )
    return problems
