"""The store gauges' snapshot: a scrape serves the last count while it is current, waits for a
fresh one after a write, and never waits longer than its budget."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from receiver.gauges import Snapshot
from tests.clock import ManualClock


class Counted:
    """What a count saw: how many counts ran, and the writes there were when each began."""

    def __init__(self) -> None:
        self.writes = 0
        self.counts: list[int] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self._counted = asyncio.Condition()

    async def count(self) -> None:
        self.counts.append(self.writes)
        async with self._counted:
            self._counted.notify_all()
        await self.hold.wait()

    async def until(self, counts: int) -> None:
        """Return once ``counts`` counts have begun."""
        async with self._counted:
            await self._counted.wait_for(lambda: len(self.counts) >= counts)


async def test_a_scrape_waits_for_the_first_count_then_serves_it_while_it_is_current() -> None:
    counted = Counted()
    snapshot = Snapshot(counted.count, lambda: counted.writes, interval=60.0, wait=2.0)
    snapshot.start()
    try:
        await snapshot.fresh()
        await snapshot.fresh()
        await snapshot.fresh()
        assert counted.counts == [0]
    finally:
        await snapshot.stop()


async def test_a_scrape_after_a_write_gets_a_count_begun_after_it() -> None:
    counted = Counted()
    snapshot = Snapshot(counted.count, lambda: counted.writes, interval=60.0, wait=2.0)
    snapshot.start()
    try:
        await snapshot.fresh()
        counted.writes += 1
        await snapshot.fresh()
        assert counted.counts == [0, 1]
        await snapshot.fresh()
        assert counted.counts == [0, 1]
    finally:
        await snapshot.stop()


async def test_a_scrape_asks_for_a_new_count_once_the_interval_has_passed_on_its_clock() -> None:
    clock = ManualClock()
    counted = Counted()
    snapshot = Snapshot(
        counted.count, lambda: counted.writes, interval=60.0, wait=2.0, monotonic=clock.monotonic
    )
    snapshot.start()
    try:
        await snapshot.fresh()
        assert counted.counts == [0]
        await clock.advance(timedelta(seconds=61))
        await snapshot.fresh()  # serves the count it has, and asks for another
        await asyncio.wait_for(counted.until(2), 10)
        assert counted.counts == [0, 0]
    finally:
        await snapshot.stop()


async def test_the_count_is_taken_again_every_interval_without_scrapes() -> None:
    counted = Counted()
    snapshot = Snapshot(counted.count, lambda: counted.writes, interval=0.05, wait=2.0)
    snapshot.start()
    try:
        await asyncio.sleep(0.3)
        assert len(counted.counts) >= 3
    finally:
        await snapshot.stop()


async def test_a_count_that_hangs_holds_a_scrape_up_for_the_wait_only() -> None:
    counted = Counted()
    snapshot = Snapshot(counted.count, lambda: counted.writes, interval=60.0, wait=0.2)
    snapshot.start()
    try:
        await snapshot.fresh()
        counted.hold.clear()  # the database stops answering
        counted.writes += 1
        began = time.monotonic()
        await snapshot.fresh()
        assert 0.15 <= time.monotonic() - began < 1.5
    finally:
        await snapshot.stop()


async def test_a_count_that_fails_is_tried_again_and_scrapes_still_answer() -> None:
    tries: list[int] = []

    async def count() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise RuntimeError("the first count breaks")

    writes = 0
    snapshot = Snapshot(count, lambda: writes, interval=0.05, wait=0.5)
    snapshot.start()
    try:
        await snapshot.fresh()
        await asyncio.sleep(0.2)
        assert len(tries) >= 2
    finally:
        await snapshot.stop()
