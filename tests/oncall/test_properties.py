"""Properties of the engine, against a reference written the simple way: at every instant
exactly the person the reference names is on call, and an override always wins."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.oncall import OnCall, Override
from tests.conftest import examples
from tests.oncall.common import config

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata"]
PEOPLE = ["alice", "bob", "carol", "dave"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class Layer:
    members: list[str]
    days: int
    handoff: time
    start: date
    window: tuple[list[int], time, time] | None  # weekdays, from, to (same day)


def _reference_turn(layer: Layer, zone: ZoneInfo, at: datetime) -> str | None:
    """Whose turn it is, counted on the calendar: the local day of ``at`` (the day before
    when it is earlier than the handoff), in whole shifts since the start date."""
    local = at.astimezone(zone)
    day = local.date() - (timedelta(days=1) if local.time() < layer.handoff else timedelta(0))
    if day < layer.start:
        return None
    if layer.window is not None:
        weekdays, opens, closes = layer.window
        if local.weekday() not in weekdays or not opens <= local.time() < closes:
            return None
    return layer.members[((day - layer.start).days // layer.days) % len(layer.members)]


def reference(
    layers: list[Layer], zone: ZoneInfo, overrides: list[Override], at: datetime
) -> tuple[str, ...]:
    for item in sorted(overrides, key=lambda o: (o.created_at, o.id), reverse=True):
        if item.start <= at < item.end:
            return (item.person,)
    for layer in reversed(layers):
        person = _reference_turn(layer, zone, at)
        if person is not None:
            return (person,)
    return ()


def _yaml(zone: str, layers: list[Layer]) -> str:
    lines = ["schedules:", "  - id: s", f"    time_zone: {zone}", "    layers:"]
    for layer in layers:
        lines += [
            f"      - members: [{', '.join(layer.members)}]",
            f"        shift: {layer.days}d",
            f'        handoff: "{layer.handoff:%H:%M}"',
            f'        start: "{layer.start.isoformat()}"',
        ]
        if layer.window is not None:
            weekdays, opens, closes = layer.window
            days = ", ".join(DAYS[d] for d in weekdays)
            lines.append(
                f'        restrictions: [{{days: [{days}], start: "{opens:%H:%M}", '
                f'end: "{closes:%H:%M}"}}]'
            )
    return "\n".join(lines) + "\n"


# Handoffs from 03:00 on: earlier ones fall where these zones' clocks skip or repeat, which
# the reference above does not model (test_engine.py pins those down by hand).
_handoffs = st.builds(time, st.integers(3, 23), st.sampled_from([0, 15, 30, 45]))
_hours = st.builds(time, st.integers(3, 22), st.sampled_from([0, 30]))


@st.composite
def _windows(draw: st.DrawFn) -> tuple[list[int], time, time] | None:
    if not draw(st.booleans()):
        return None
    weekdays = draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True))
    opens = draw(_hours)
    closes = time(draw(st.integers(opens.hour + 1, 23)), draw(st.sampled_from([0, 30])))
    return sorted(weekdays), opens, closes


_layers = st.builds(
    Layer,
    members=st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4),
    days=st.integers(1, 14),
    handoff=_handoffs,
    start=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    window=_windows(),
)
_instants = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)


@st.composite
def _overrides(draw: st.DrawFn) -> list[Override]:
    found = []
    for n in range(draw(st.integers(0, 4))):
        start = draw(_instants)
        length = draw(st.integers(1, 14 * 24 * 60))
        made = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 1000)))
        found.append(
            Override(
                n + 1,
                "s",
                draw(st.sampled_from(PEOPLE)),
                start,
                start + timedelta(minutes=length),
                "person:dave",
                made,
            )
        )
    return found


_SETTINGS = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_SETTINGS
@given(
    zone=st.sampled_from(ZONES),
    layers=st.lists(_layers, min_size=1, max_size=3),
    overrides=_overrides(),
    instants=st.lists(_instants, min_size=1, max_size=12),
)
def test_at_every_instant_the_expected_person_is_on_call(
    zone: str, layers: list[Layer], overrides: list[Override], instants: list[datetime]
) -> None:
    parsed = config(_yaml(zone, layers))
    oncall = OnCall(parsed.schedules, parsed.people, overrides)
    near = [o.start for o in overrides] + [o.end - timedelta(seconds=1) for o in overrides]
    for at in instants + near:
        assert oncall.who("s", at) == reference(layers, ZoneInfo(zone), overrides, at), at


@_SETTINGS
@given(
    zone=st.sampled_from(ZONES),
    layers=st.lists(_layers, min_size=1, max_size=2),
    overrides=_overrides(),
    start=_instants,
    days=st.integers(1, 21),
)
def test_shifts_tile_the_range_and_agree_with_who(
    zone: str, layers: list[Layer], overrides: list[Override], start: datetime, days: int
) -> None:
    """Shifts and gaps cover the range exactly once, in order, and every shift's first and
    last second are who() says."""
    parsed = config(_yaml(zone, layers))
    oncall = OnCall(parsed.schedules, parsed.people, overrides)
    end = start + timedelta(days=days)
    shifts = oncall.shifts("s", start, end)
    pieces = sorted(
        [(s.start, s.end) for s in shifts]
        + [(g.start, g.end) for g in oncall.gaps("s", start, end)]
    )
    assert pieces[0][0] == start and pieces[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    for shift in shifts:
        assert shift.start < shift.end
        assert oncall.who("s", shift.start) == shift.people
        assert oncall.who("s", shift.end - timedelta(microseconds=1)) == shift.people


@_SETTINGS
@given(
    zone=st.sampled_from(ZONES),
    layers=st.lists(_layers, min_size=1, max_size=3),
    overrides=_overrides(),
    instants=st.lists(_instants, min_size=1, max_size=8),
)
def test_an_override_always_wins(
    zone: str, layers: list[Layer], overrides: list[Override], instants: list[datetime]
) -> None:
    parsed = config(_yaml(zone, layers))
    oncall = OnCall(parsed.schedules, parsed.people, overrides)
    for override in overrides:
        for at in [override.start, override.end - timedelta(seconds=1), *instants]:
            if not override.start <= at < override.end:
                continue
            later = [
                o
                for o in overrides
                if o.start <= at < o.end
                and (o.created_at, o.id) > (override.created_at, override.id)
            ]
            if not later:
                assert oncall.who("s", at) == (override.person,)
