"""The JSON of schedules, shifts, gaps and overrides: what the API answers and the CLI, Slack
and the console show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receiver.alertmanager import format_rfc3339
from receiver.config import PersonConfig
from receiver.config.oncall import LayerConfig, ScheduleConfig
from receiver.durations import format_duration
from receiver.oncall.model import Gap, Override, Shift


def person_json(person_id: str, people: Mapping[str, PersonConfig]) -> dict[str, Any]:
    person = people.get(person_id)
    return {"id": person_id, "name": person.name or person_id if person else person_id}


def layer_json(layer: LayerConfig, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "name": layer.name or f"layer {index + 1}",
        "members": list(layer.members),
        "shift": format_duration(layer.shift),
        "handoff": layer.handoff,
        "start": layer.start,
        "time_zone": layer.time_zone,
        "restrictions": [
            {"days": list(r.days), "start": r.start, "end": r.end} for r in layer.restrictions
        ],
    }


def schedule_json(schedule: ScheduleConfig) -> dict[str, Any]:
    return {
        "id": schedule.id,
        "name": schedule.title,
        "time_zone": schedule.time_zone,
        "source": "ical" if schedule.ical is not None else "layers",
        "layers": [layer_json(layer, n) for n, layer in enumerate(schedule.layers)],
        "handoff_notify": schedule.handoff_notify,
    }


def shift_json(shift: Shift, people: Mapping[str, PersonConfig]) -> dict[str, Any]:
    return {
        "people": [person_json(p, people) for p in shift.people],
        "start": format_rfc3339(shift.start),
        "end": format_rfc3339(shift.end),
        "source": shift.source,
        "layer": shift.layer,
        "override": shift.override,
    }


def gap_json(gap: Gap) -> dict[str, Any]:
    return {"start": format_rfc3339(gap.start), "end": format_rfc3339(gap.end)}


def override_json(override: Override) -> dict[str, Any]:
    return {
        "id": override.id,
        "schedule": override.schedule,
        "person": override.person,
        "start": format_rfc3339(override.start),
        "end": format_rfc3339(override.end),
        "created_by": override.created_by,
        "created_at": format_rfc3339(override.created_at),
    }
