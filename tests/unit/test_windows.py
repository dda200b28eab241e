"""When maintenance windows are open: one-off, rrule and cron, in wall-clock time of a zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.windows import MaintenanceWindow, cron_problem, parse_instant, rrule_problem

BASE = {"name": "w", "matchers": ('a="b"',), "reason": "r", "owner": "o"}


def at(text: str) -> datetime:
    return parse_instant(text)


def test_a_one_off_window_is_open_from_its_start_to_just_before_its_end() -> None:
    w = MaintenanceWindow(
        **BASE, starts_at=at("2026-12-24T02:00:00Z"), ends_at=at("2026-12-24T04:00:00Z")
    )  # type: ignore[arg-type]
    assert w.occurrence_at(at("2026-12-24T01:59:59Z")) is None
    assert w.occurrence_at(at("2026-12-24T02:00:00Z")) is not None
    assert w.occurrence_at(at("2026-12-24T03:59:59Z")) is not None
    assert w.occurrence_at(at("2026-12-24T04:00:00Z")) is None
    assert w.next_occurrence(at("2026-12-23T00:00:00Z")) is not None
    assert w.finished(at("2026-12-24T04:00:00Z"))


def test_a_weekly_rrule_keeps_its_local_hour_across_daylight_saving() -> None:
    w = MaintenanceWindow(  # type: ignore[arg-type]
        **BASE,
        rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2",
        duration=timedelta(hours=2),
        time_zone="Europe/Berlin",
    )
    winter = w.occurrence_at(at("2026-12-27T01:30:00Z"))  # 02:30 CET
    assert winter is not None and winter.start == at("2026-12-27T01:00:00Z")
    summer = w.next_occurrence(at("2026-07-01T00:00:00Z"))
    assert summer is not None and summer.start == at("2026-07-05T00:00:00Z")  # 02:00 CEST
    assert summer.end == at("2026-07-05T02:00:00Z")
    assert w.occurrence_at(at("2026-12-28T01:30:00Z")) is None  # a Monday


def test_a_cron_window_and_one_ended_early() -> None:
    w = MaintenanceWindow(  # type: ignore[arg-type]
        **BASE, cron="30 3 * * *", duration=timedelta(minutes=30), time_zone="America/New_York"
    )
    found = w.occurrence_at(at("2026-12-24T08:45:00Z"))  # 03:45 EST
    assert found is not None and found.start == at("2026-12-24T08:30:00Z")
    assert found.end == at("2026-12-24T09:00:00Z")
    assert w.occurrence_at(at("2026-12-24T09:00:00Z")) is None
    ended = MaintenanceWindow(  # type: ignore[arg-type]
        **BASE,
        cron="30 3 * * *",
        duration=timedelta(minutes=30),
        time_zone="America/New_York",
        ended_at=at("2026-12-24T08:40:00Z"),
    )
    assert ended.occurrence_at(at("2026-12-24T08:35:00Z")) is not None
    assert ended.occurrence_at(at("2026-12-24T08:45:00Z")) is None
    assert ended.finished(at("2026-12-24T08:45:00Z"))


def test_rules_it_refuses_say_why() -> None:
    assert rrule_problem("FREQ=WEEKLY;BYDAY=SU") is None
    assert rrule_problem("RRULE:FREQ=DAILY;BYHOUR=3") is None
    assert "DAILY or rarer" in (rrule_problem("FREQ=MINUTELY") or "")
    assert "RFC 5545" in (rrule_problem("FREQ=SOMETIMES") or "")
    assert "RFC 5545" in (rrule_problem("FREQ=DAILY\nDTSTART:19700101T000000Z") or "")
    assert rrule_problem("FREQ=DAILY;UNTIL=20100101T000000Z") == "never occurs"
    assert cron_problem("0 2 * * 0") is None
    assert cron_problem("0 2 * *") is not None
    assert cron_problem("0 2 * * 0 2026") is not None
    assert cron_problem("a b c d e") is not None
    assert parse_instant("2026-12-24T03:00:00+01:00") == datetime(2026, 12, 24, 2, tzinfo=UTC)
