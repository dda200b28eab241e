"""What a maintenance window that is gone held is released at once (docs/maintenance.md).

A window taken out of the configuration file by a reload (or while the process was stopped)
no longer holds anything, but the jobs that wait for its end (``maintenance_release``, and
``escalate`` timers carrying its name) were due at its planned end. At every start and
reload a ``maintenance_gone`` job makes the waiting jobs of every window that is no longer
open or planned due now, as ending a window early does; ``maintenance_release`` then routes
what it held (or holds it again where another window covers it).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from receiver.job_handlers import Done, JobContext, Outcome
from receiver.model import NewJob
from receiver.store import Store
from receiver.store.maintenance import bring_forward, waited_for

log = logging.getLogger("firebreak.maintenance")

GONE = "maintenance_gone"

LiveNames = Callable[[datetime], Awaitable[set[str]]]


def gone_job(now: datetime) -> NewJob:
    """The job that releases what windows gone by ``now`` held. Each start and reload makes
    its own (two reloads in one second may take out two windows); running one more than
    needed only finds nothing to release."""
    key = f"{GONE}:{now.timestamp():.0f}:{secrets.token_hex(8)}"
    return NewJob(kind=GONE, payload={}, due_at=now, idempotency_key=key)


class WindowsGone:
    """Runs ``maintenance_gone`` jobs."""

    def __init__(
        self, store: Store, live: LiveNames, waiting: Sequence[str], wake: Callable[[], None]
    ) -> None:
        self._store = store
        self._live = live
        self._waiting = tuple(waiting)
        self._wake = wake

    async def run(self, ctx: JobContext) -> Outcome:
        live = await self._live(ctx.now)
        brought = 0
        async with self._store.transaction() as conn:
            gone = sorted(await waited_for(conn, self._waiting, ctx.now) - live)
            for name in gone:
                brought += await bring_forward(conn, self._waiting, name, ctx.now)
        if not gone:
            return Done("none gone")
        log.info("maintenance windows %s are gone: %d held jobs due now", gone, brought)
        self._wake()
        return Done(f"{brought} jobs of {len(gone)} windows gone due now")
