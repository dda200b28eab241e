"""The periodic purge job: deletes what has aged past ``retention.period``, in small batches.

A run works for at most a few seconds; when rows remain it comes back at once (a new job), so
a large backlog after an upgrade or a long outage is worked off without holding the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from receiver.config import RetentionConfig
from receiver.job_handlers import Done, Handler, JobContext, Outcome
from receiver.metrics import Metrics
from receiver.model import NewJob
from receiver.pipeline import periodic_job
from receiver.store import Store
from receiver.store.retention import PURGES

log = logging.getLogger("firebreak.retention")

# Longest one run keeps deleting before it hands over to the next.
_RUN_SECONDS = 2.0


class Retention:
    def __init__(
        self,
        config: RetentionConfig,
        store: Store,
        metrics: Metrics,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._store = store
        self._metrics = metrics
        self._monotonic = monotonic  # what a run's few seconds are counted by

    def handlers(self) -> dict[str, Handler]:
        return {"purge": self.purge}

    def seed(self, now: datetime) -> list[NewJob]:
        if self._config.period <= timedelta(0):
            return []
        return [periodic_job("purge", self._config.interval, now)]

    async def purge(self, ctx: JobContext) -> Outcome:
        return await self.run(ctx.now)

    async def run(self, now: datetime) -> Done:
        """One run of the purge at ``now``: what has aged out deleted, batch by batch, for at
        most a few seconds; the next run enqueued, at once when rows remain."""
        if self._config.period <= timedelta(0):
            return Done("disabled")
        cutoff = now - self._config.period
        limit = self._config.batch_size
        deadline = self._monotonic() + _RUN_SECONDS
        total = 0
        more = False
        for table, purge in PURGES:
            while True:
                async with self._store.transaction(durable=False) as conn:
                    deleted = await purge(conn, cutoff, limit)
                if deleted:
                    self._metrics.purged_rows.labels(table).inc(deleted)
                    total += deleted
                if deleted < limit:
                    break
                if self._monotonic() > deadline:
                    more = True
                    break
            if more:
                break
        if total:
            log.info("purged %d rows older than %s", total, cutoff.isoformat())
        if more:  # a backlog: carry on at once, in a new job
            return Done("more", enqueue=[periodic_job("purge", timedelta(seconds=1), now)])
        return Done("purged", enqueue=[periodic_job("purge", self._config.interval, now)])
