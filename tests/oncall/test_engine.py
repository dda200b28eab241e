"""The engine: rotations, layers, restrictions, overrides and gaps, and shifts across the
daylight-saving changes of Europe/London, America/New_York and Australia/Sydney."""

from __future__ import annotations

from datetime import timedelta

import pytest

from receiver.errors import NotFound
from receiver.oncall import Gap
from tests.oncall.common import at, engine, override, utc

WEEKLY = """
schedules:
  - id: s
    time_zone: Europe/London
    layers:
      - {members: [alice, bob, carol], shift: weekly, handoff: "09:00", start: "2026-01-05"}
"""


def test_members_take_turns_from_the_start_date() -> None:
    oncall = engine(WEEKLY)
    assert oncall.who("s", at("Europe/London", 2026, 1, 5, 8, 59)) == ()  # before the start
    assert oncall.who("s", at("Europe/London", 2026, 1, 5, 9, 0)) == ("alice",)
    assert oncall.who("s", at("Europe/London", 2026, 1, 12, 8, 59)) == ("alice",)
    assert oncall.who("s", at("Europe/London", 2026, 1, 12, 9, 0)) == ("bob",)
    assert oncall.who("s", at("Europe/London", 2026, 1, 19, 9, 0)) == ("carol",)
    assert oncall.who("s", at("Europe/London", 2026, 1, 26, 9, 0)) == ("alice",)
    # Fifty weeks on: 50 % 3 == 2.
    assert oncall.who("s", at("Europe/London", 2026, 12, 21, 12, 0)) == ("carol",)


def test_shifts_and_gaps_over_a_range() -> None:
    oncall = engine(WEEKLY)
    start, end = at("Europe/London", 2026, 1, 1), at("Europe/London", 2026, 1, 20)
    shifts = oncall.shifts("s", start, end)
    assert [(s.people, s.start, s.end, s.marker) for s in shifts] == [
        (("alice",), utc(2026, 1, 5, 9), utc(2026, 1, 12, 9), "layer:0"),
        (("bob",), utc(2026, 1, 12, 9), utc(2026, 1, 19, 9), "layer:0"),
        (("carol",), utc(2026, 1, 19, 9), end, "layer:0"),
    ]
    assert oncall.gaps("s", start, end) == [Gap(start, utc(2026, 1, 5, 9))]


def test_a_later_layer_covers_the_earlier_where_it_has_someone() -> None:
    oncall = engine(
        """
        schedules:
          - id: s
            time_zone: America/New_York
            layers:
              - {members: [alice, bob], shift: weekly, start: "2026-01-05"}
              - members: [carol]
                start: "2026-01-05"
                restrictions: [{days: weekdays, start: "09:00", end: "17:00"}]
        """
    )
    tz = "America/New_York"
    assert oncall.who("s", at(tz, 2026, 1, 6, 8, 59)) == ("alice",)
    assert oncall.who("s", at(tz, 2026, 1, 6, 9, 0)) == ("carol",)
    assert oncall.who("s", at(tz, 2026, 1, 6, 16, 59)) == ("carol",)
    assert oncall.who("s", at(tz, 2026, 1, 6, 17, 0)) == ("alice",)
    assert oncall.who("s", at(tz, 2026, 1, 10, 12, 0)) == ("alice",)  # Saturday
    layers = oncall.layer_shifts("s", at(tz, 2026, 1, 6), at(tz, 2026, 1, 7))
    assert [[(s.people, s.start, s.end) for s in layer] for layer in layers] == [
        [(("alice",), at(tz, 2026, 1, 6), at(tz, 2026, 1, 7))],
        [(("carol",), at(tz, 2026, 1, 6, 9), at(tz, 2026, 1, 6, 17))],
    ]


def test_a_window_past_midnight_belongs_to_the_day_it_opens() -> None:
    oncall = engine(
        """
        schedules:
          - id: s
            time_zone: Europe/London
            layers:
              - members: [dave]
                start: "2026-01-05"
                restrictions: [{days: [fri], start: "22:00", end: "06:00"}]
        """
    )
    tz = "Europe/London"
    assert oncall.who("s", at(tz, 2026, 1, 9, 21, 59)) == ()  # Friday
    assert oncall.who("s", at(tz, 2026, 1, 9, 22, 0)) == ("dave",)
    assert oncall.who("s", at(tz, 2026, 1, 10, 5, 59)) == ("dave",)  # Saturday morning
    assert oncall.who("s", at(tz, 2026, 1, 10, 6, 0)) == ()
    assert oncall.who("s", at(tz, 2026, 1, 10, 23, 0)) == ()  # Saturday night
    gaps = oncall.gaps("s", at(tz, 2026, 1, 9), at(tz, 2026, 1, 11))
    assert gaps == [
        Gap(at(tz, 2026, 1, 9), at(tz, 2026, 1, 9, 22)),
        Gap(at(tz, 2026, 1, 10, 6), at(tz, 2026, 1, 11)),
    ]


def test_follow_the_sun_layers_each_in_their_own_zone() -> None:
    oncall = engine(
        """
        schedules:
          - id: s
            layers:
              - members: [alice]
                start: "2026-01-05"
                time_zone: Europe/London
                restrictions: [{start: "08:00", end: "16:00"}]
              - members: [bob]
                start: "2026-01-05"
                time_zone: America/New_York
                restrictions: [{start: "11:00", end: "19:00"}]
              - members: [carol]
                start: "2026-01-05"
                time_zone: Australia/Sydney
                restrictions: [{start: "11:00", end: "19:00"}]
        """
    )
    # Winter: London 08-16 UTC, New York 16-24 UTC, Sydney (UTC+11) 00-08 UTC.
    day = [oncall.who("s", utc(2026, 1, 14, hour)) for hour in range(24)]
    assert day == [("carol",)] * 8 + [("alice",)] * 8 + [("bob",)] * 8
    assert oncall.gaps("s", utc(2026, 1, 14), utc(2026, 1, 21)) == []


def test_overrides_win_and_the_later_made_wins_between_them() -> None:
    first = override("dave", utc(2026, 1, 6, 12), utc(2026, 1, 6, 18), id=7, made=1)
    second = override("carol", utc(2026, 1, 6, 15), utc(2026, 1, 6, 16), id=3, made=2)
    oncall = engine(WEEKLY.replace("id: s", "id: s"), (first, second))
    assert oncall.who("s", utc(2026, 1, 6, 11, 59)) == ("alice",)
    assert oncall.who("s", utc(2026, 1, 6, 12)) == ("dave",)
    assert oncall.who("s", utc(2026, 1, 6, 15, 30)) == ("carol",)
    assert oncall.who("s", utc(2026, 1, 6, 16)) == ("dave",)
    assert oncall.who("s", utc(2026, 1, 6, 18)) == ("alice",)
    shifts = oncall.shifts("s", utc(2026, 1, 6, 10), utc(2026, 1, 6, 20))
    assert [(s.people, s.start.hour, s.end.hour, s.marker) for s in shifts] == [
        (("alice",), 10, 12, "layer:0"),
        (("dave",), 12, 15, "override:7"),
        (("carol",), 15, 16, "override:3"),
        (("dave",), 16, 18, "override:7"),
        (("alice",), 18, 20, "layer:0"),
    ]


def test_an_override_fills_a_gap() -> None:
    oncall = engine(WEEKLY, (override("dave", utc(2026, 1, 4), utc(2026, 1, 5, 9)),))
    assert oncall.gaps("s", utc(2026, 1, 3), utc(2026, 1, 6)) == [
        Gap(utc(2026, 1, 3), utc(2026, 1, 4))
    ]


def test_an_unknown_schedule_and_naive_times_are_refused() -> None:
    oncall = engine(WEEKLY)
    with pytest.raises(NotFound, match="no schedule 'nope'; defined: s"):
        oncall.who("nope", utc(2026, 1, 6))
    with pytest.raises(ValueError, match="at: expected an aware datetime"):
        oncall.who("s", utc(2026, 1, 6).replace(tzinfo=None))
    with pytest.raises(ValueError, match="end: expected a time after start"):
        oncall.shifts("s", utc(2026, 1, 6), utc(2026, 1, 5))


# --- daylight saving ---------------------------------------------------------------------------


def _daily(zone: str, handoff: str, start: str = "2026-01-01") -> str:
    return f"""
        schedules:
          - id: s
            time_zone: {zone}
            layers:
              - {{members: [alice, bob], shift: daily, handoff: "{handoff}", start: "{start}"}}
        """


def _lengths(zone: str, handoff: str, start: str, end: str) -> list[tuple[str, float]]:
    """Each whole shift from the start date to ``end``: who, and how many hours it lasts."""
    oncall = engine(_daily(zone, handoff, start))
    first = at(zone, *map(int, start.split("-")))  # type: ignore[arg-type]
    last = at(zone, *map(int, end.split("-")))  # type: ignore[arg-type]
    shifts = oncall.shifts("s", first, last)
    return [(s.people[0], (s.end - s.start) / timedelta(hours=1)) for s in shifts[:-1]]


@pytest.mark.parametrize(
    ("zone", "start", "end", "hours"),
    [
        # The clocks go forward on the night of Sunday 29 March and back on 25 October.
        ("Europe/London", "2026-03-27", "2026-03-31", [24, 23, 24]),
        ("Europe/London", "2026-10-23", "2026-10-27", [24, 25, 24]),
        # 8 March and 1 November.
        ("America/New_York", "2026-03-06", "2026-03-10", [24, 23, 24]),
        ("America/New_York", "2026-10-30", "2026-11-03", [24, 25, 24]),
        # The southern hemisphere: back on 5 April, forward on 4 October.
        ("Australia/Sydney", "2026-04-03", "2026-04-07", [24, 25, 24]),
        ("Australia/Sydney", "2026-10-02", "2026-10-06", [24, 23, 24]),
    ],
)
def test_a_daily_handoff_stays_at_its_local_time_across_a_change(
    zone: str, start: str, end: str, hours: list[int]
) -> None:
    lengths = _lengths(zone, "09:00", start, end)
    assert [h for _, h in lengths] == hours
    assert [p for p, _ in lengths] == ["alice", "bob", "alice"]
    oncall = engine(_daily(zone, "09:00", start))
    for shift in oncall.shifts("s", at(zone, 2026, 1, 1), at(zone, 2027, 1, 1)):
        if shift.start != at(zone, 2026, 1, 1):
            assert shift.start.astimezone(oncall.zone("s")).strftime("%H:%M") == "09:00"


def test_a_handoff_the_clocks_skip_happens_when_they_jump() -> None:
    """02:30 does not exist in New York on 8 March 2026: that handoff is at 03:00 EDT."""
    oncall = engine(_daily("America/New_York", "02:30", "2026-03-01"))
    tz = "America/New_York"
    assert oncall.who("s", at(tz, 2026, 3, 8, 1, 59)) == ("alice",)
    assert oncall.who("s", utc(2026, 3, 8, 6, 59, 59)) == ("alice",)  # 01:59:59 EST
    assert oncall.who("s", utc(2026, 3, 8, 7, 0)) == ("bob",)  # 03:00 EDT
    shifts = oncall.shifts("s", at(tz, 2026, 3, 7), at(tz, 2026, 3, 10))
    assert [s.start for s in shifts[1:]] == [
        utc(2026, 3, 7, 7, 30),  # 02:30 EST
        utc(2026, 3, 8, 7, 0),  # the jump
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]


def test_a_handoff_the_clocks_repeat_happens_the_first_time() -> None:
    """01:30 happens twice in New York on 1 November 2026: the handoff is at the first."""
    oncall = engine(_daily("America/New_York", "01:30", "2026-10-25"))
    first = at("America/New_York", 2026, 11, 1, 1, 30, fold=0)
    second = at("America/New_York", 2026, 11, 1, 1, 30, fold=1)
    assert second - first == timedelta(hours=1)
    before = oncall.who("s", first - timedelta(seconds=1))
    assert oncall.who("s", first) != before
    assert oncall.who("s", second) == oncall.who("s", first)


def test_a_twelve_hour_rotation_keeps_its_wall_clock_hours() -> None:
    oncall = engine(
        """
        schedules:
          - id: s
            time_zone: Australia/Sydney
            layers:
              - {members: [alice, bob], shift: 12h, handoff: "08:00", start: "2026-04-01"}
        """
    )
    tz = "Australia/Sydney"
    shifts = oncall.shifts("s", at(tz, 2026, 4, 4, 8), at(tz, 2026, 4, 6, 8))
    local = [s.start.astimezone(oncall.zone("s")).strftime("%d %H:%M") for s in shifts]
    assert local == ["04 08:00", "04 20:00", "05 08:00", "05 20:00"]
    # The night the clocks go back lasts 13 hours.
    assert [(s.end - s.start) / timedelta(hours=1) for s in shifts] == [12, 13, 12, 12]
