"""The job runner (receiver/jobs.py) on a real SQLite store and a manual clock: it claims what
is due and nothing before, applies each outcome (done with follow-ups, deferred, retried with
backoff, dead-lettered), is woken for work enqueued elsewhere, and runs an idempotency key once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from receiver.config import Config
from receiver.job_handlers import DeadLetter, Defer, Done, Handler, JobContext, Outcome, Retry
from receiver.job_records import Retrying
from receiver.jobs import JobRunner, RunnerSettings
from receiver.metrics import Metrics
from receiver.store import Store, create_engine_for, migrate, tables
from receiver.store.jobs import NewJob
from tests.clock import ManualClock
from tests.conftest import eventually


@dataclass
class Script:
    """A handler that answers from a list of outcomes (the last one again once it runs out)
    and notes the clock's time at every call."""

    outcomes: list[Outcome | Exception]
    calls: list[Any] = field(default_factory=list)

    async def __call__(self, ctx: JobContext) -> Outcome:
        self.calls.append(ctx.now)
        answer = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Bench:
    clock: ManualClock
    store: Store
    registry: CollectorRegistry
    start: Callable[..., JobRunner]

    async def enqueue(self, *new: NewJob) -> None:
        async with self.store.transaction() as conn:
            await self.store.jobs.enqueue(conn, list(new), self.clock())

    async def rows(self) -> list[Any]:
        jobs = tables.jobs.c
        query = select(
            jobs.kind, jobs.state, jobs.attempts, jobs.outcome, jobs.last_error, jobs.due_at
        ).order_by(jobs.id)
        async with self.store.connection() as conn:
            return list((await conn.execute(query)).all())

    def job(self, kind: str = "work", after: timedelta = timedelta(0), key: str = "") -> NewJob:
        return NewJob(kind, {}, self.clock() + after, key or f"{kind}:{after}")


@pytest.fixture
async def bench(
    sqlite_url: str, make_config: Callable[..., Config], manual_clock: ManualClock
) -> AsyncIterator[Bench]:
    store = Store(create_engine_for(make_config(sqlite_url).database))
    await migrate(store.engine)
    registry = CollectorRegistry()
    runners: list[JobRunner] = []

    def start(
        handlers: dict[str, Handler], inline: tuple[str, ...] = (), **settings: Any
    ) -> JobRunner:
        # An hour between polls: a job runs only because it fell due or the runner was woken.
        settings = {"poll_interval": timedelta(hours=1), **settings}
        runner = JobRunner(
            store,
            handlers,
            Metrics(registry),
            manual_clock,
            RunnerSettings(owner="test", **settings),
            inline=inline,
        )
        runner.start()
        manual_clock.watch_runner(store, runner)
        runners.append(runner)
        return runner

    yield Bench(manual_clock, store, registry, start)
    for runner in runners:
        await runner.stop()
    await store.close()


async def test_a_due_job_runs_once_and_its_follow_up_in_the_same_settle(bench: Bench) -> None:
    follow = Script([Done("followed")])
    work = Script([Done("sent", enqueue=[bench.job("follow")])])
    bench.start({"work": work, "follow": follow})
    await bench.enqueue(bench.job())
    await bench.clock.settle(wake=True)
    assert [(r.kind, r.state, r.outcome) for r in await bench.rows()] == [
        ("work", "done", "sent"),
        ("follow", "done", "followed"),
    ]
    assert work.calls == [bench.clock()] and follow.calls == [bench.clock()]


async def test_a_job_due_later_runs_at_its_due_time_not_before(bench: Bench) -> None:
    work = Script([Done()])
    bench.start({"work": work})
    start = bench.clock()
    await bench.enqueue(bench.job(after=timedelta(seconds=90)))
    await bench.clock.advance(timedelta(seconds=89))
    assert work.calls == []
    await bench.clock.advance(timedelta(minutes=10))
    # Advancing past it runs it when it fell due, as if the time had passed.
    assert work.calls == [start + timedelta(seconds=90)]


async def test_wake_picks_up_a_job_enqueued_elsewhere_without_waiting_for_the_poll(
    bench: Bench,
) -> None:
    work = Script([Done()])
    runner = bench.start({"work": work})
    await bench.clock.settle()  # idle, and sleeping until the next poll an hour away
    await bench.enqueue(bench.job())
    runner.wake()
    await bench.clock.settle(within=5)
    assert len(work.calls) == 1


@pytest.mark.parametrize("inline", [False, True], ids=["task", "inline"])
async def test_stopping_while_a_job_runs_records_it_and_ends_without_waiting_for_a_poll(
    bench: Bench, inline: bool
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def work(_ctx: JobContext) -> Outcome:
        started.set()
        await release.wait()
        return Done("finished")

    # An hour between polls and an hour of grace: a stop that waited for the next poll once
    # the last outcome was recorded would still be waiting below.
    runner = bench.start(
        {"work": work}, inline=("work",) if inline else (), stop_grace=timedelta(hours=1)
    )
    await bench.enqueue(bench.job())
    runner.wake()
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)  # stop() has begun
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert [(r.kind, r.state, r.outcome) for r in await bench.rows()] == [
        ("work", "done", "finished")
    ]


async def test_an_idempotency_key_is_enqueued_and_run_once(bench: Bench) -> None:
    work = Script([Done()])
    bench.start({"work": work})
    await bench.enqueue(bench.job(key="notify:1"), bench.job(key="notify:1"))
    await bench.enqueue(bench.job(key="notify:1"))
    await bench.clock.settle(wake=True)
    assert len(await bench.rows()) == 1
    assert len(work.calls) == 1
    await bench.enqueue(bench.job(key="notify:1"))  # done already: still not again
    await bench.clock.settle(wake=True)
    assert len(await bench.rows()) == 1 and len(work.calls) == 1


async def test_a_failure_is_retried_with_backoff_and_then_succeeds(bench: Bench) -> None:
    work = Script([RuntimeError("refused"), Retry("503 from upstream"), Done("sent")])
    bench.start({"work": work}, backoff_initial=timedelta(seconds=10))
    start = bench.clock()
    await bench.enqueue(bench.job())
    await bench.clock.settle(wake=True)
    ((_kind, state, attempts, _outcome, error, due),) = await bench.rows()
    assert (state, attempts, error) == ("pending", 1, "RuntimeError: refused")
    # The first retry waits half to all of backoff_initial (jitter), the second twice that.
    assert start + timedelta(seconds=5) <= due <= start + timedelta(seconds=10)
    await bench.clock.advance(due - start - timedelta(milliseconds=1))
    assert len(work.calls) == 1  # not before its backoff
    await bench.clock.advance(timedelta(milliseconds=1))
    assert work.calls[1] == due
    ((_, state, attempts, _, error, second_due),) = await bench.rows()
    assert (state, attempts, error) == ("pending", 2, "503 from upstream")
    assert due + timedelta(seconds=10) <= second_due <= due + timedelta(seconds=20)
    await bench.clock.advance(timedelta(seconds=20))
    assert [(r.state, r.attempts, r.outcome) for r in await bench.rows()] == [("done", 2, "sent")]
    assert len(work.calls) == 3


async def test_a_retry_is_not_run_before_the_time_the_far_side_asked_for(bench: Bench) -> None:
    start = bench.clock()
    later = start + timedelta(minutes=7)
    work = Script([Retry("429", not_before=later), Done()])
    bench.start({"work": work}, backoff_initial=timedelta(seconds=1))
    await bench.enqueue(bench.job())
    await bench.clock.advance(timedelta(minutes=10))
    assert work.calls == [start, later]


async def test_a_job_out_of_attempts_is_dead_lettered_and_counted(bench: Bench) -> None:
    work = Script([Retry("still down")])
    bench.start(
        {"work": work},
        max_attempts=3,
        backoff_initial=timedelta(seconds=1),
        backoff_max=timedelta(seconds=2),
    )
    await bench.enqueue(bench.job())
    await bench.clock.advance(timedelta(minutes=1))
    assert [(r.state, r.attempts, r.last_error) for r in await bench.rows()] == [
        ("dead", 3, "still down")
    ]
    assert len(work.calls) == 3  # and never again
    assert bench.registry.get_sample_value("firebreak_jobs_dead_lettered_total") == 1.0


async def test_a_rejection_and_an_unknown_kind_are_dead_lettered_at_once(bench: Bench) -> None:
    bench.start({"work": Script([DeadLetter("400: bad payload")])})
    await bench.enqueue(bench.job(), bench.job("mystery"))
    await bench.clock.settle(wake=True)
    assert [(r.kind, r.state, r.attempts, r.last_error) for r in await bench.rows()] == [
        ("work", "dead", 1, "400: bad payload"),
        ("mystery", "dead", 1, "no handler for job kind 'mystery'"),
    ]


async def test_a_deferred_job_runs_again_at_its_time_without_spending_an_attempt(
    bench: Bench,
) -> None:
    start = bench.clock()
    work = Script([Defer(start + timedelta(seconds=30), "rate limited"), Done("sent")])
    bench.start({"work": work})
    await bench.enqueue(bench.job())
    await bench.clock.advance(timedelta(seconds=29))
    assert [(r.state, r.attempts) for r in await bench.rows()] == [("pending", 0)]
    await bench.clock.advance(timedelta(seconds=1))
    assert [(r.state, r.attempts, r.outcome) for r in await bench.rows()] == [("done", 0, "sent")]
    assert work.calls == [start, start + timedelta(seconds=30)]


def test_backoff_doubles_with_each_attempt_up_to_the_cap_with_jitter() -> None:
    retrying = Retrying(10, backoff_initial=timedelta(seconds=2), backoff_max=timedelta(seconds=30))
    for attempts, base in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (12, 30)]:
        for _ in range(20):
            wait = retrying.backoff(attempts).total_seconds()
            assert base / 2 <= wait <= base


async def test_a_run_that_began_and_ended_without_an_answer_leaves_the_job_in_doubt(
    bench: Bench,
) -> None:
    """Deferred or retried with its side effect begun, the job is in doubt for every later run
    until one finishes it; deferred before it began, it is not."""
    start = bench.clock()
    seen: dict[str, list[bool]] = {"began": [], "held": []}

    def script(name: str, begins: bool) -> Handler:
        async def work(ctx: JobContext) -> Outcome:
            seen[name].append(ctx.job.in_doubt)
            if len(seen[name]) == 3:
                return Done("sent")
            ctx.in_doubt = begins and len(seen[name]) == 1  # the second run begins nothing
            if len(seen[name]) == 1:
                return Defer(start + timedelta(seconds=10), "breaker open")
            return Retry("timeout", not_before=start + timedelta(seconds=20))

        return work

    bench.start({"began": script("began", True), "held": script("held", False)})
    await bench.enqueue(bench.job("began"), bench.job("held"))
    await bench.clock.advance(timedelta(seconds=1))
    rows = await bench.rows()
    assert [(r.kind, r.state, r.attempts, r.outcome) for r in rows] == [
        ("began", "pending", 0, "in_doubt"),
        ("held", "pending", 0, None),
    ]
    await bench.clock.advance(timedelta(seconds=30))
    assert [(r.kind, r.state, r.outcome) for r in await bench.rows()] == [
        ("began", "done", "sent"),
        ("held", "done", "sent"),
    ]
    assert seen == {"began": [False, True, True], "held": [False, False, False]}


async def test_a_job_cut_off_at_shutdown_is_in_doubt_only_if_it_had_begun(bench: Bench) -> None:
    running: list[str] = []

    def hang(begins: bool) -> Handler:
        async def work(ctx: JobContext) -> Outcome:
            ctx.in_doubt = begins
            running.append(ctx.job.kind)
            await asyncio.Event().wait()  # the far side never answers
            raise AssertionError("not reached")

        return work

    runner = bench.start(
        {"began": hang(True), "held": hang(False)}, stop_grace=timedelta(seconds=0.2)
    )
    await bench.enqueue(bench.job("began"), bench.job("held"))
    runner.wake()
    await eventually(lambda: len(running) == 2, what="both jobs running")
    await asyncio.wait_for(runner.stop(), 10)
    assert [(r.kind, r.state, r.attempts, r.outcome) for r in await bench.rows()] == [
        ("began", "pending", 0, "in_doubt"),
        ("held", "pending", 0, None),
    ]
