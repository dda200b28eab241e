"""Firebreak's own actions called as a python step calls them, on the real store: the check
after a recovery counts its wait on the application's clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from receiver.automation.actions import ActionContext
from receiver.automation.builtin import dead_letters_settled
from receiver.automation.guards import GuardedHttp, HttpGuard
from receiver.deadletters import DeadLetters
from receiver.hostallow import HostAllowList
from receiver.model import NewJob
from receiver.store import open_store
from tests.clock import ManualClock


async def test_the_settled_check_fails_once_its_wait_has_passed_on_the_application_clock(
    db_url: str, make_config: Any
) -> None:
    clock = ManualClock()
    async with open_store(make_config(db_url).database) as store:
        later = clock() + timedelta(hours=1)  # retried, and not run yet
        async with store.transaction() as conn:
            await store.jobs.enqueue(conn, [NewJob("notify", {}, later, "notify:1")], clock())
        [job] = (await DeadLetters(store, clock, lambda: None).jobs(range(1, 100))).values()
        context = ActionContext(
            execution_id=1,
            step="check",
            key="step:1:run:1",
            http=GuardedHttp(HttpGuard(HostAllowList()), None),
            dead_letters=DeadLetters(store, clock, lambda: None),
            clock=clock,
            monotonic=clock.monotonic,
        )
        check = asyncio.create_task(
            dead_letters_settled(retried=str(job.id), wait="30s", firebreak=context)
        )
        await asyncio.sleep(0)  # the check begins: its wait counts from here
        await clock.advance(timedelta(seconds=31))
        with pytest.raises(RuntimeError, match=rf"jobs \[{job.id}\] had not run within 30s"):
            await asyncio.wait_for(check, 10)
