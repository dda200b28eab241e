"""The signed Slack requests remembered against replays: one row per signature, taken once even
when two replicas record it at the same moment, and only for the request's window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from receiver.store import Store
from receiver.store.slack_requests import first_sight, seen_before
from receiver.store.tables import slack_requests

T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


def _signature(n: int) -> str:
    return f"v0={n:064x}"


async def _take(store: Store, n: int, signed_at: datetime, now: datetime) -> bool:
    async with store.transaction() as conn:
        return await first_sight(conn, _signature(n), signed_at, signed_at + WINDOW, now)


async def _rows(store: Store) -> int:
    async with store.connection() as conn:
        found = await conn.execute(select(func.count()).select_from(slack_requests))
        return int(found.scalar() or 0)


async def test_a_signature_is_taken_once(store: Store) -> None:
    assert await _take(store, 1, T0, T0)
    assert not await _take(store, 1, T0, T0 + timedelta(seconds=30))
    assert await _take(store, 2, T0, T0 + timedelta(seconds=30))
    async with store.connection() as conn:
        assert await seen_before(conn, _signature(1))
        assert not await seen_before(conn, _signature(3))


async def test_two_at_the_same_moment_take_it_once(store: Store) -> None:
    taken = await asyncio.gather(*(_take(store, 7, T0, T0) for _ in range(5)))
    assert sorted(taken) == [False, False, False, False, True]


async def test_rows_go_once_their_window_has_passed(store: Store) -> None:
    for n in range(300):
        assert await _take(store, n, T0 + timedelta(seconds=n % 60), T0 + timedelta(seconds=60))
    assert await _rows(store) == 300
    later = T0 + WINDOW + timedelta(minutes=1, seconds=1)  # every one of them is outside it
    assert await _take(store, 1000, later, later)
    assert await _rows(store) == 1
