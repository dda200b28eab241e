"""Self-traffic, so the demo's metrics move without a separate load tool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiohttp import ClientError, ClientSession

MAX_IN_FLIGHT = 64  # under a latency fault requests pile up; beyond this, ticks are skipped
ITEMS = 50  # distinct item ids requested, so the cache fills and stays small


async def generate_load(
    session: ClientSession, base_url: str, rate: float, rng: Callable[[], float]
) -> None:
    """Send ``rate`` item reads a second and enqueue a job for every second read, forever.

    Each request runs on its own, so a slow answer does not slow the schedule.
    """
    in_flight: set[asyncio.Task[None]] = set()
    interval = 1.0 / rate
    sent = 0
    try:
        while True:
            if len(in_flight) < MAX_IN_FLIGHT:
                sent += 1
                item = int(rng() * ITEMS)
                calls = [("GET", f"{base_url}/api/items/{item}")]
                if sent % 2 == 0:
                    calls.append(("POST", f"{base_url}/api/jobs"))
                for method, url in calls:
                    task = asyncio.create_task(_call(session, method, url))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
            await asyncio.sleep(interval)
    finally:
        for task in list(in_flight):
            task.cancel()
        for task in list(in_flight):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _call(session: ClientSession, method: str, url: str) -> None:
    # An error answer is the point of a fault; a refused connection is a restart. Neither
    # stops the generator.
    with contextlib.suppress(ClientError, asyncio.TimeoutError):
        async with session.request(method, url) as response:
            await response.read()
