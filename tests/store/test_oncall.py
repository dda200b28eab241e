"""On-call overrides in the store (SQLite and PostgreSQL), and ``Schedules`` answering with
them: an override made is who is on call, a wrong one is refused and writes nothing."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from receiver.config import Config
from receiver.errors import InvalidInput, NotFound
from receiver.schedules import Schedules
from receiver.store import Store
from receiver.store.oncall import add_override, delete_override, list_overrides
from tests.cases import by_first, each_case
from tests.clock import ManualClock
from tests.oncall.common import config as oncall_config
from tests.oncall.common import utc

SCHEDULES = """
schedules:
  - id: payments
    time_zone: Europe/London
    layers:
      - {members: [alice, bob], shift: weekly, start: "2026-01-05"}
"""


@pytest.fixture
def schedules_config(config: Config) -> Config:
    parsed = oncall_config(SCHEDULES)
    return dataclasses.replace(config, people=parsed.people, schedules=parsed.schedules)


async def test_overrides_are_added_listed_and_deleted(store: Store) -> None:
    async with store.transaction() as conn:
        first = await add_override(
            conn,
            schedule="payments",
            person="carol",
            start=utc(2026, 1, 6, 12),
            end=utc(2026, 1, 6, 18),
            created_by="person:dave",
            now=utc(2026, 1, 6),
        )
        await add_override(
            conn,
            schedule="search",
            person="dave",
            start=utc(2026, 1, 7),
            end=utc(2026, 1, 8),
            created_by="api:ops-bot",
            now=utc(2026, 1, 6, 1),
        )
    async with store.connection() as conn:
        assert [o.schedule for o in await list_overrides(conn)] == ["payments", "search"]
        (found,) = await list_overrides(conn, schedule="payments")
        assert found == first
        assert found.start == utc(2026, 1, 6, 12) and found.created_by == "person:dave"
        assert await list_overrides(conn, ending_after=utc(2026, 1, 7, 12)) != []
        assert await list_overrides(conn, ending_after=utc(2026, 1, 8)) == []
        assert await list_overrides(conn, starting_before=utc(2026, 1, 6, 12)) == []
    async with store.transaction() as conn:
        assert await delete_override(conn, first.id, schedule="search") is None
        assert await delete_override(conn, first.id, schedule="payments") == first
        assert await delete_override(conn, first.id, schedule="payments") is None
    async with store.connection() as conn:
        assert [o.schedule for o in await list_overrides(conn)] == ["search"]


async def test_who_is_on_call_takes_the_overrides_in_the_store(
    store: Store, schedules_config: Config
) -> None:
    manual_clock = ManualClock(utc(2026, 1, 6, 10))
    schedules = Schedules(schedules_config, store, manual_clock)
    assert await schedules.who("payments") == ("alice",)
    made = await schedules.add_override(
        "payments", "carol", utc(2026, 1, 6, 11), utc(2026, 1, 6, 13), "person:dave"
    )
    assert made.created_at == utc(2026, 1, 6, 10)
    assert await schedules.who("payments") == ("alice",)
    assert await schedules.who("payments", utc(2026, 1, 6, 11)) == ("carol",)
    assert await schedules.overrides("payments") == [made]
    await manual_clock.advance(timedelta(hours=2))
    assert await schedules.who("payments") == ("carol",)
    await schedules.delete_override("payments", made.id)
    assert await schedules.who("payments") == ("alice",)
    with pytest.raises(NotFound, match=f"schedule 'payments' has no override {made.id}"):
        await schedules.delete_override("payments", made.id)


WRONG_OVERRIDES = [
    ("nope", "carol", (2026, 1, 6, 11), (2026, 1, 6, 12), "no schedule 'nope'"),
    ("payments", "mallory", (2026, 1, 6, 11), (2026, 1, 6, 12), "person: expected the id"),
    ("payments", "x" * 5000, (2026, 1, 6, 11), (2026, 1, 6, 12), "person: expected the id"),
    ("payments", "carol", (2026, 1, 6, 12), (2026, 1, 6, 11), "end: expected a time after"),
    ("payments", "carol", (2026, 1, 5), (2026, 1, 6, 9), "end: expected a time in the future"),
    ("payments", "carol", (2026, 1, 6, 11), (2026, 6, 6), "end: expected an override of at"),
    ("payments", "carol", (2027, 6, 1), (2027, 6, 2), "start: expected a time within a year"),
]


async def test_a_wrong_override_is_refused_and_writes_nothing(
    store: Store, schedules_config: Config
) -> None:
    schedules = Schedules(schedules_config, store, ManualClock(utc(2026, 1, 6, 10)))

    async def check(case: tuple[str, str, tuple[int, ...], tuple[int, ...], str]) -> None:
        schedule, person, start, end, error = case
        with pytest.raises((InvalidInput, NotFound), match=error) as info:
            await schedules.add_override(schedule, person, utc(*start), utc(*end), "person:dave")
        assert len(str(info.value)) < 200
        async with store.connection() as conn:
            assert await list_overrides(conn) == []

    await each_case(by_first(WRONG_OVERRIDES), check)
