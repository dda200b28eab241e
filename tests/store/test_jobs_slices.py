"""A backlog is claimed in slices: however many jobs are due, one turn of the runner claims at
most ``claim_limit`` of them, the company of coalesced jobs included, and the rest go in later
turns, each job once, a key's jobs in the order they were made. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from receiver.job_handlers import Done, JobContext, Outcome
from receiver.jobs import JobRunner
from receiver.model import NewJob
from receiver.store import Store, tables
from tests.clock import ManualClock


def running(
    start: Callable[..., JobRunner], runs: list[list[str]], horizon: timedelta, **settings: Any
) -> JobRunner:
    """A runner whose ``note`` jobs record, run by run, the names of the jobs run together."""

    async def note(ctx: JobContext) -> Outcome:
        runs.append([j.payload["name"] for j in ctx.jobs])
        return Done("sent")

    return start({"note": note}, {"note": horizon}, **settings)


async def enqueue(store: Store, clock: ManualClock, names: list[str], later: int = 0) -> None:
    """Jobs of the key before the colon in each name; ``later``: the last ones due a minute
    from now (company a grouping window gathers)."""
    now = clock()
    new = [
        NewJob(
            "note",
            {"name": name},
            now + timedelta(minutes=1) if i >= len(names) - later else now,
            f"note:{name}",
            coalesce_key=name.split(":")[0],
        )
        for i, name in enumerate(names)
    ]
    async with store.transaction() as conn:
        await store.jobs.enqueue(conn, new, now)


async def states(store: Store) -> dict[str, tuple[str, int]]:
    jobs = tables.jobs.c
    async with store.connection() as conn:
        rows = await conn.execute(select(jobs.payload, jobs.state, jobs.claims))
        return {r.payload["name"]: (r.state, r.claims) for r in rows}


async def test_a_backlog_of_one_key_is_claimed_in_slices_in_order_each_job_once(
    store: Store, start: Callable[..., JobRunner], manual_clock: ManualClock
) -> None:
    names = [f"a:{n:02}" for n in range(10)]
    # Half of them due later, gathered as company of the first (a grouping window).
    await enqueue(store, manual_clock, names, later=5)
    runs: list[list[str]] = []
    running(start, runs, timedelta(minutes=5), claim_limit=4)
    await manual_clock.settle(wake=True)
    # Four due now fill the first slice; the fifth takes three of those due later along.
    assert runs == [names[0:4], names[4:8]]
    # The two left over were not claimed early: they go at their own time, not lost.
    await manual_clock.advance(timedelta(minutes=1))
    assert runs == [names[0:4], names[4:8], names[8:10]]
    assert await states(store) == {name: ("done", 1) for name in names}


async def test_keys_share_a_turns_slice_and_each_keeps_its_order(
    store: Store, start: Callable[..., JobRunner], manual_clock: ManualClock
) -> None:
    a = [f"a:{n:02}" for n in range(7)]
    b = [f"b:{n:02}" for n in range(7)]
    await enqueue(store, manual_clock, a + b)
    runs: list[list[str]] = []
    running(start, runs, timedelta(0), claim_limit=3, workers=2)
    await manual_clock.settle(wake=True)
    assert runs, "nothing ran"
    assert max(len(run) for run in runs) <= 3
    # Each key's runs, one after the other, are its jobs in the order they were made, once.
    for key, names in (("a", a), ("b", b)):
        assert [name for run in runs if run[0].startswith(key) for name in run] == names
    assert await states(store) == {name: ("done", 1) for name in a + b}


async def test_without_a_limit_to_reach_a_key_goes_out_in_one_run(
    store: Store, start: Callable[..., JobRunner], manual_clock: ManualClock
) -> None:
    names = [f"a:{n:02}" for n in range(10)]
    await enqueue(store, manual_clock, names, later=5)
    runs: list[list[str]] = []
    running(start, runs, timedelta(minutes=5))
    await manual_clock.settle(wake=True)
    assert runs == [names]
