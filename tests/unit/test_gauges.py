"""The store gauges' snapshot: a scrape serves the last count while it is current, waits for a
fresh one after a write, and never waits longer than its budget. The waits that are timed run
on a ManualClock (its ``timeout``), not the wall."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from receiver.gauges import Snapshot
from tests.clock import ManualClock


class Counted:
    """What a count saw: how many counts ran, and the writes there were when each began."""

    def __init__(
        self, breaks: int = 0, *, clock: ManualClock | None = None, takes: float = 0.0
    ) -> None:
        self.breaks = breaks  # how many counts, the first ones, fail
        self._clock, self._takes = clock, takes  # each count moves the clock by ``takes``
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
        if self._clock is not None:
            await self._clock.advance(timedelta(seconds=self._takes))
        if len(self.counts) <= self.breaks:
            raise RuntimeError("the count breaks")

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


def on_clock(counted: Counted, clock: ManualClock, **timing: float) -> Snapshot:
    """A snapshot of ``counted`` whose ages and waits all run on ``clock`` (a minute's interval
    and half a minute's wait: on the wall, the test would time out first)."""
    return Snapshot(
        counted.count,
        lambda: counted.writes,
        monotonic=clock.monotonic,
        timeout=clock.timeout,
        **timing,
    )


async def test_the_count_is_taken_again_every_interval_without_scrapes() -> None:
    clock = ManualClock()
    counted = Counted()
    snapshot = on_clock(counted, clock, interval=60.0, wait=30.0)
    snapshot.start()
    try:
        await snapshot.fresh()
        await clock.advance(timedelta(seconds=59.9))
        for _ in range(10):  # turns of the loop, in which nothing is due
            await asyncio.sleep(0)
        assert counted.counts == [0]
        for counts in (2, 3, 4):
            await clock.advance(timedelta(seconds=60))
            await asyncio.wait_for(counted.until(counts), 10)
        assert counted.counts == [0, 0, 0, 0]
    finally:
        await snapshot.stop()


async def test_a_count_that_hangs_holds_a_scrape_up_for_the_wait_only() -> None:
    clock = ManualClock()
    counted = Counted()
    snapshot = on_clock(counted, clock, interval=60.0, wait=30.0)
    snapshot.start()
    try:
        await snapshot.fresh()
        counted.hold.clear()  # the database stops answering
        counted.writes += 1
        scrape = asyncio.create_task(snapshot.fresh())
        await asyncio.wait_for(counted.until(2), 10)  # it asked for a count, which hangs
        await clock.advance(timedelta(seconds=29.9))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not scrape.done()  # still inside its wait
        await clock.advance(timedelta(seconds=0.1))
        await asyncio.wait_for(scrape, 10)  # and answers once the wait is over
        assert counted.counts == [0, 1]
    finally:
        counted.hold.set()
        await snapshot.stop()


async def test_a_count_that_fails_is_tried_again_and_scrapes_still_answer() -> None:
    clock = ManualClock()
    counted = Counted(breaks=1)
    snapshot = on_clock(counted, clock, interval=60.0, wait=30.0)
    snapshot.start()
    try:
        await snapshot.fresh()  # answers although the first count failed
        await clock.advance(timedelta(seconds=60))
        await asyncio.wait_for(counted.until(2), 10)
        await snapshot.fresh()
        assert counted.counts == [0, 0]
    finally:
        await snapshot.stop()


async def test_a_count_that_takes_long_is_taken_again_after_twenty_times_as_long() -> None:
    """A store of a million firing alerts takes a while to count: after a count of 3 s the
    next waits a minute, not the 5 s interval, and a scrape meanwhile is served the snapshot
    at once; a scrape after this process wrote still gets a count begun after the write."""
    clock = ManualClock()
    counted = Counted(clock=clock, takes=3.0)
    snapshot = on_clock(counted, clock, interval=5.0, wait=30.0)
    snapshot.start()
    try:
        await snapshot.fresh()
        await clock.advance(timedelta(seconds=53))  # a minute after the count began, less a bit
        await snapshot.fresh()
        for _ in range(10):
            await asyncio.sleep(0)
        assert counted.counts == [0]
        await clock.advance(timedelta(seconds=4.1))
        await asyncio.wait_for(counted.until(2), 10)
        counted.writes += 1
        await snapshot.fresh()
        assert counted.counts == [0, 0, 1]
    finally:
        await snapshot.stop()
