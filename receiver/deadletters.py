"""Dead-lettered jobs, for the people who look at them (``/api/v1/jobs``) and for the actions
that recover them (``retry_dead_letters``): list them, and put one back in the queue."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from receiver.errors import Conflict, NotFound
from receiver.model import Clock, Job
from receiver.store import Store

_PAGE = 500


class DeadLetters:
    def __init__(self, store: Store, clock: Clock, wake: Callable[[], None]) -> None:
        self._store = store
        self._clock = clock
        self._wake = wake

    async def dead(self) -> list[Job]:
        """Every dead-lettered job, newest first."""
        found: list[Job] = []
        before: int | None = None
        while True:
            async with self._store.connection() as conn:
                page = await self._store.jobs.list_jobs(conn, "dead", None, _PAGE, before)
            found += page
            if len(page) < _PAGE:
                return found
            before = page[-1].id

    async def jobs(self, job_ids: Iterable[int]) -> dict[int, Job]:
        """The jobs of those ids that exist."""
        found: dict[int, Job] = {}
        async with self._store.connection() as conn:
            for job_id in sorted(set(job_ids)):
                job = await self._store.jobs.get(conn, job_id)
                if job is not None:
                    found[job_id] = job
        return found

    async def retry(self, job_id: int) -> Job:
        """Put a dead job back with a fresh attempt budget and wake the runner; NotFound
        when there is no such job, Conflict when it is not dead."""
        async with self._store.transaction() as conn:
            job = await self._store.jobs.retry_dead(conn, job_id, self._clock())
            existing = None if job is not None else await self._store.jobs.get(conn, job_id)
        if job is None:
            if existing is None:
                raise NotFound(f"job {job_id} does not exist")
            raise Conflict(f"job {job_id} is {existing.state}; only dead jobs can be retried")
        self._wake()
        return job
