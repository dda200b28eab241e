"""The job queue's claim: jobs of one coalesce key never overtake one of them still running, so
what they say in one place (an alert's Slack thread) arrives in the order it was made. On
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from receiver.model import IN_DOUBT, NewJob
from receiver.store import Store
from receiver.store.tables import jobs

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def note(n: int, key: str | None = "thread:alert:1") -> NewJob:
    return NewJob("slack_update", {"n": n}, NOW, f"note:{n}:{key}", coalesce_key=key)


async def claim(store: Store, owner: str, now: datetime = NOW) -> list[int]:
    found = await store.unit(lambda conn: store.jobs.claim(conn, owner, now, LEASE, 10))
    return sorted(job.payload["n"] for job in found)


async def enqueue(store: Store, *jobs: NewJob) -> None:
    async with store.transaction() as conn:
        await store.jobs.enqueue(conn, list(jobs), NOW)


async def finish(store: Store, owner: str) -> None:
    def finished(conn: Connection) -> tuple[int, int]:
        ids = [row[0] for row in conn.execute(select(jobs.c.id))]
        held = store.jobs.held(conn, ids, owner)
        return store.jobs.finish(conn, sorted(held), owner, NOW, "sent"), len(held)

    done, held = await store.unit(finished)
    assert done == held


async def test_a_later_job_of_a_key_waits_for_the_one_running(store: Store) -> None:
    await enqueue(store, note(1))
    assert await claim(store, "a") == [1]
    # Made while the first runs: the same key waits; another key and no key go ahead.
    await enqueue(store, note(2), note(3, key="thread:alert:2"), note(4, key=None))
    assert await claim(store, "b") == [3, 4]
    assert await claim(store, "b") == []
    await finish(store, "a")
    assert await claim(store, "b") == [2]


async def test_a_dead_workers_job_is_taken_over_before_its_key_moves_on(store: Store) -> None:
    await enqueue(store, note(1))
    assert await claim(store, "a") == [1]
    await enqueue(store, note(2))
    # The lease ran out (its worker died): the first is claimed again, together with the rest
    # of its key (one group, run in order), rather than the rest going ahead of it.
    later = NOW + LEASE + timedelta(seconds=1)
    assert await claim(store, "b", later) == [1, 2]


async def test_enqueue_counts_the_jobs_it_added_not_those_whose_key_was_taken(
    store: Store,
) -> None:
    async with store.transaction() as conn:
        assert await store.jobs.enqueue(conn, [note(1), note(2), note(3)], NOW) == 3
    async with store.transaction() as conn:
        # Two keys taken already (one of them twice in the same call), two new.
        again = [note(1), note(4), note(3), note(5), note(1)]
        assert await store.jobs.enqueue(conn, again, NOW) == 2
        assert await store.jobs.enqueue(conn, [note(2)], NOW) == 0
    async with store.transaction() as conn:
        keys = [row[0] for row in await conn.execute(select(jobs.c.idempotency_key))]
    assert sorted(keys) == sorted(note(n).idempotency_key for n in range(1, 6))
    assert await store.unit(lambda conn: store.jobs.enqueue_in(conn, [note(6), note(6)], NOW)) == 1


async def test_an_enqueued_job_is_stored_as_sqlalchemy_stores_it(store: Store) -> None:
    # SQLite enqueues through the driver's own INSERT (store/bulk.py): the same text as
    # SQLAlchemy's, JSON escaping and times to the microsecond included.
    payload = {"alert_ids": [1, 2], "note": "x'); --\u00e9\U0001f525", "n": 2.5, "none": None}
    due = NOW.replace(microsecond=7)
    made = NewJob("notify", payload, due, "by-store", coalesce_key="group:1")

    def both(conn: Connection) -> int:
        row = {"kind": "notify", "payload": payload, "state": "pending", "due_at": due,
               "attempts": 0, "idempotency_key": "by-sqlalchemy", "coalesce_key": "group:1",
               "created_at": NOW, "updated_at": NOW}  # fmt: skip
        conn.execute(insert(jobs), [row])
        return store.jobs.enqueue_in(conn, [made], NOW)

    assert await store.unit(both) == 1
    columns = [c for c in jobs.c if c.name not in ("id", "idempotency_key")]
    async with store.connection() as conn:
        text = [
            tuple(row)
            for row in await conn.execute(
                select(*(c.cast(jobs.c.idempotency_key.type) for c in columns)).order_by(
                    jobs.c.idempotency_key
                )
            )
        ]
    assert text[0] == text[1]
    assert text[0][0] == "notify"


async def test_leases_handed_back_by_id_count_each_job_once(store: Store) -> None:
    """Ids go to the database in lists of a power of two in number (three as four, the last
    repeated): what is finished and counted is each named job once, and no other."""
    await enqueue(store, *(note(n, key=f"k{n}") for n in range(5)))
    assert await claim(store, "w1") == [0, 1, 2, 3, 4]

    def finish_three(conn: Connection) -> tuple[int, set[int]]:
        ids = [row[0] for row in conn.execute(select(jobs.c.id).order_by(jobs.c.id))]
        done = store.jobs.finish(conn, ids[:3], "w1", NOW, "sent")
        return done, store.jobs.held(conn, ids, "w1")

    done, still_held = await store.unit(finish_three)
    assert done == 3
    assert len(still_held) == 2
    async with store.connection() as conn:
        states = [row[0] for row in await conn.execute(select(jobs.c.state).order_by(jobs.c.id))]
    assert states == ["done", "done", "done", "running", "running"]


async def test_jobs_handed_back_are_pending_again_as_asked(store: Store) -> None:
    await enqueue(store, *(note(n, key=None) for n in range(4)))
    assert await claim(store, "w") == [0, 1, 2, 3]
    later = NOW + timedelta(minutes=5)

    def hand_back(conn: Connection) -> tuple[int, ...]:
        ids = {row.payload["n"]: row.id for row in conn.execute(select(jobs.c.id, jobs.c.payload))}
        again = store.jobs.reschedule
        return (
            again(conn, [ids[0]], "w", NOW, later, error="boom", count_attempt=True),
            again(conn, [ids[1]], "w", NOW, later, error=None, count_attempt=False,
                  kind="digest", coalesce_key="digest:g"),
            again(conn, [ids[2]], "w", NOW, later, error=None, count_attempt=False, in_doubt=True),
            # Not this worker's lease: left as it is.
            again(conn, [ids[3]], "other", NOW, later, error="x", count_attempt=True),
        )  # fmt: skip

    assert await store.unit(hand_back) == (1, 1, 1, 0)
    c = jobs.c
    async with store.connection() as conn:
        rows = [
            tuple(row)
            for row in await conn.execute(
                select(c.kind, c.state, c.due_at, c.attempts, c.last_error, c.coalesce_key,
                       c.outcome, c.lease_owner, c.updated_at).order_by(c.id)
            )
        ]  # fmt: skip
    assert rows == [
        ("slack_update", "pending", later, 1, "boom", None, None, None, NOW),
        ("digest", "pending", later, 0, None, "digest:g", None, None, NOW),
        ("slack_update", "pending", later, 0, None, None, IN_DOUBT, None, NOW),
        ("slack_update", "running", NOW, 0, None, None, None, "w", NOW),
    ]
