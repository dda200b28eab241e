"""The ``people``, ``teams``, ``schedules`` and ``oncall`` sections: what they accept, and a
clear message naming the key for what they do not."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.config import (
    LayerConfig,
    PersonConfig,
    RestrictionConfig,
    ScheduleConfig,
    TeamConfig,
    parse_config,
)
from receiver.errors import ConfigError
from receiver.people import People
from tests.conftest import examples
from tests.oncall.common import PEOPLE, config


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config(text)
    return info.value.problems


def test_people_teams_and_schedules_are_read() -> None:
    parsed = config(
        """
        teams:
          - id: payments
            name: Payments
            members: [alice, bob]
            slack_channel: C0PAYMENTS
            slack_user_group: S0PAYONCALL
        schedules:
          - id: payments-primary
            name: Payments primary
            time_zone: Europe/London
            handoff_notify: true
            layers:
              - name: weekly
                members: [alice, bob]
                shift: weekly
                handoff: "09:30"
                start: "2026-01-05"
              - members: [carol]
                start: "2026-01-05"
                shift: 12h
                time_zone: Australia/Sydney
                restrictions:
                  - {days: weekdays, start: "09:00", end: "17:00"}
                  - {days: [sat], start: "22:00", end: "06:00"}
          - id: imported
            ical: calendars/oncall.ics
        """
    )
    assert parsed.people[0] == PersonConfig(
        id="alice",
        name="Alice Archer",
        email="alice@example.com",
        time_zone="Europe/London",
    )
    assert parsed.people[3].time_zone == "UTC"
    assert parsed.teams == (
        TeamConfig("payments", "Payments", ("alice", "bob"), "C0PAYMENTS", "S0PAYONCALL"),
    )
    primary, imported = parsed.schedules
    assert primary.layers[0] == LayerConfig(
        members=("alice", "bob"),
        start="2026-01-05",
        shift=timedelta(weeks=1),
        handoff="09:30",
        name="weekly",
    )
    assert primary.layers[1].shift == timedelta(hours=12)
    assert primary.layers[1].restrictions == (
        RestrictionConfig(days=("mon", "tue", "wed", "thu", "fri"), start="09:00", end="17:00"),
        RestrictionConfig(days=("sat",), start="22:00", end="06:00"),
    )
    assert primary.handoff_notify is True
    assert imported == ScheduleConfig(id="imported", ical="calendars/oncall.ics")
    people = People(parsed.people, (), parsed.teams)
    assert [p.id for p in people.members("payments")] == ["alice", "bob"]
    assert people.team("payments") == parsed.teams[0]
    assert people.team("nope") is None
    assert [t.id for t in people.teams_of("bob")] == ["payments"]
    assert people.teams_of("carol") == ()


def test_a_person_s_zone_is_checked() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("people: [{id: zed, time_zone: Mars/Olympus}]", source="f.yml", env={})
    assert info.value.problems == [
        "f.yml:1:20: people[0].time_zone: expected an IANA time zone such as Europe/London or "
        "America/New_York"
    ]


def test_daily_is_one_day() -> None:
    parsed = config(
        """
        schedules:
          - id: s
            layers: [{members: [alice], shift: daily, start: "2026-01-05"}]
        """
    )
    assert parsed.schedules[0].layers[0].shift == timedelta(days=1)


ALICE = "members: [alice], start: '2026-01-05'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"schedules: [{{id: s, time_zone: CEST, layers: [{{{ALICE}}}]}}]",
            "schedules[0].time_zone: expected an IANA time zone",
        ),
        (
            f"schedules: [{{id: s, layers: [{{{ALICE}, handoff: '9am'}}]}}]",
            "schedules[0].layers[0].handoff: expected a time of day as HH:MM such as 09:00",
        ),
        (
            "schedules: [{id: s, layers: [{members: [alice], start: '5 Jan'}]}]",
            "schedules[0].layers[0].start: expected a date as YYYY-MM-DD",
        ),
        (
            "schedules: [{id: s, layers: [{members: [alice]}]}]",
            "schedules[0].layers[0].start: required key is missing",
        ),
        (
            "schedules: [{id: s, layers: [{members: [], start: '2026-01-05'}]}]",
            "schedules[0].layers[0].members: must not be empty",
        ),
        (
            "schedules: [{id: s, layers: [{members: [alice], start: '2026-01-05', shift: 5m}]}]",
            "schedules[0].layers[0].shift: must be at least 1h",
        ),
        (
            f"schedules: [{{id: s, layers: [{{{ALICE}, shift: fortnightly}}]}}]",
            "schedules[0].layers[0].shift: expected a duration such as 30s, 5m or 1h30m, "
            'got "fortnightly"',
        ),
        (
            "schedules: [{id: s}]",
            "schedules[0].layers: give layers or ical (exactly one)",
        ),
        (
            "schedules: [{id: s, ical: a.ics, layers: [{members: [alice], start: '2026-01-05'}]}]",
            "schedules[0].layers: give layers or ical (exactly one)",
        ),
        (
            "schedules: [{id: 'Payments Team', ical: a.ics}]",
            "schedules[0].id: expected lower-case letters, digits",
        ),
        (
            "schedules: [{id: s, ical: 'ftp://x/a.ics'}]",
            "schedules[0].ical: expected a file path or a URL starting with http:// or https://",
        ),
        (
            "schedules: [{id: s, layers: [{members: [alice], start: '2026-01-05', "
            "restrictions: [{days: [funday]}]}]}]",
            "schedules[0].layers[0].restrictions[0].days[0]: expected one of mon, tue, wed, thu, "
            'fri, sat, sun, got "funday"',
        ),
        (
            "schedules: [{id: s, layers: [{members: [alice], start: '2026-01-05', "
            "restrictions: [{end: '25:00'}]}]}]",
            "schedules[0].layers[0].restrictions[0].end: expected a time of day as HH:MM",
        ),
        (
            "teams: [{id: t, slack_user_group: '@payments-oncall'}]",
            "teams[0].slack_user_group: expected a Slack user group id such as S0123ABCD",
        ),
        (
            "teams: [{id: t, slack_channel: '#payments'}]",
            "teams[0].slack_channel: expected a Slack channel id such as C0123ABCD",
        ),
        (
            "schedules: [{id: s, layers: [{members: alice, start: '2026-01-05'}]}]",
            'schedules[0].layers[0].members: expected a list, got "alice"',
        ),
    ],
)
def test_a_wrong_value_is_named_with_what_was_expected(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith("f.yml") for problem in found)


def test_unknown_people_and_duplicate_ids_are_named() -> None:
    found = problems(
        """
        teams:
          - {id: payments, members: [alice, mallory]}
          - {id: payments}
        schedules:
          - id: s
            layers: [{members: [bob, eve], start: "2026-01-05"}]
          - {id: s, ical: a.ics}
        """
    )
    assert "f.yml: teams[1].id: duplicates teams[0].id" in found
    assert "f.yml: schedules[1].id: duplicates schedules[0].id" in found
    assert (
        'f.yml: teams[0].members[1]: unknown person "mallory"; defined: alice, bob, carol, dave'
        in found
    )
    assert (
        'f.yml: schedules[0].layers[0].members[1]: unknown person "eve"; '
        "defined: alice, bob, carol, dave" in found
    )


_HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=40),
    st.sampled_from(
        ["../../etc/passwd", "24:00", "25:61", "Europe/../../etc", "x" * 10_000, "${HOME}"]
    ),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_LAYER_KEYS = st.sampled_from(
    ["members", "shift", "handoff", "start", "name", "time_zone", "restrictions", "x"]
)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=st.dictionaries(
        st.sampled_from(["id", "name", "time_zone", "ical", "handoff_notify", "layers"]),
        _HOSTILE,
        max_size=5,
    ),
    layer=st.dictionaries(_LAYER_KEYS, _HOSTILE, max_size=6),
    nest=st.booleans(),
)
def test_any_schedule_gives_a_config_or_a_config_error(
    schedule: dict[str, object], layer: dict[str, object], nest: bool
) -> None:
    """Whatever a schedule holds, loading gives a Config or problems that name the file."""
    if nest:
        schedule["layers"] = [layer]
    text = PEOPLE + yaml.safe_dump({"schedules": [schedule]}, allow_unicode=True)
    try:
        parse_config(text, source="fuzz.yml", env={})
    except ConfigError as exc:
        assert exc.problems
        assert all(p.startswith("fuzz.yml") for p in exc.problems), exc.problems
