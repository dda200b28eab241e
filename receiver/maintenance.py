"""Maintenance windows: alerts they match are recorded and shown, but held back from
escalation and automatic runbooks until the window closes (docs/maintenance.md).

Windows come from the file (``maintenance:``) and from people at run time (API, Slack, console,
CLI; stored in ``maintenance_windows``). Holding is a matter of durable jobs, so a restart in
the middle of a window changes nothing:

- a ``route`` job hands its new firing alerts that an open window matches to no escalation and
  no runbook; it enqueues a ``maintenance_release`` job for them, due when the window closes,
  and writes "held by maintenance window X until T" into their history;
- an ``escalate`` timer of an alert a window opened over is set again for the window's end
  (``receiver.escalation``), like a snooze;
- ``maintenance_release`` routes the alerts still firing as if they had just arrived (their
  escalation starts from then, their runbooks start), or holds them again when another window
  (or the next occurrence) covers them;
- ending a window early makes its waiting jobs due now.

Every route turn and every tier turn asks which windows are open, so the windows made at run
time are kept in memory rather than read each time: this process's own changes (API, Slack,
console) are seen at once, and those of another process (the CLI, another replica) within
``REREAD`` seconds, when the table is read again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.alertmanager import format_rfc3339
from receiver.alertmanager_api import AlertmanagerClient
from receiver.config import Config
from receiver.config.references import SILENCE_NEEDS
from receiver.errors import Conflict, InvalidInput, NotFound
from receiver.job_handlers import Done, Handler, JobContext, Outcome
from receiver.maintenance_gone import GONE, WindowsGone, gone_job
from receiver.maintenance_silences import (
    SILENCE,
    WindowSilences,
    expire_job,
    first_silence,
    sweep_job,
)
from receiver.matchers import Matcher, matches_all, parse_matchers
from receiver.metrics import Metrics
from receiver.model import MANUAL_GROUP_KEY, Alert, AlertStatus, Clock, EventKind, NewJob
from receiver.reactions import Reacted, Reaction, alert_ids, ids_key, react_all
from receiver.store import Store
from receiver.store.maintenance import add_window, bring_forward, end_window, list_windows
from receiver.store.store import AlertState
from receiver.windows import MAX_DURATION, MaintenanceWindow, Occurrence

log = logging.getLogger("firebreak.maintenance")

RELEASE = "maintenance_release"
# The jobs that wait for a window to close, brought forward when it is ended early.
WAITING_KINDS = ("escalate", RELEASE)
# How far ahead a window made at run time may start: a typo of the year is refused.
MAX_AHEAD = timedelta(days=366)
# How often, at most, the windows made at run time are read again for the open ones: so soon
# is a window another process made (the CLI, another replica) honoured here. One read a second
# costs nothing; one on every route and tier turn cost a trip to the database per webhook.
REREAD = 1.0
# Windows that ended up to this long before the time asked about are kept in memory too: a
# turn may ask about a moment a little before the last read.
_KEPT = timedelta(hours=1)

_Parsed = tuple[MaintenanceWindow, tuple[Matcher, ...]]


@dataclass(frozen=True, slots=True)
class Hold:
    """An alert held back: by which window's occurrence, and why."""

    window: MaintenanceWindow
    occurrence: Occurrence

    @property
    def note(self) -> str:
        return (
            f"held by maintenance window {self.window.name} until "
            f"{format_rfc3339(self.occurrence.end)}: {self.window.reason}"
        )


@dataclass(frozen=True, slots=True)
class OpenWindows:
    """The windows open at one time, with their matchers parsed."""

    at: datetime
    open: Sequence[tuple[MaintenanceWindow, Occurrence, tuple[Matcher, ...]]]

    def hold(self, labels: Mapping[str, str], group_key: str) -> Hold | None:
        """The window holding an alert with ``labels`` in ``group_key``: of those matching,
        the one open longest. A page raised by hand is never held: someone asked for it to
        reach a person now, window or not."""
        if group_key == MANUAL_GROUP_KEY:
            return None
        found = [(occ, w) for w, occ, m in self.open if matches_all(m, labels)]
        if not found:
            return None
        occurrence, window = max(found, key=lambda f: f[0].end)
        return Hold(window, occurrence)


def _matchers(window: MaintenanceWindow) -> tuple[Matcher, ...]:
    return tuple(m for text in window.matchers for m in parse_matchers(text, field="matchers"))


def _event(alert_id: int, at: datetime, note: str) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "kind": EventKind.HELD.value,
        "at": at,
        "actor": "firebreak",
        "note": note,
        "request_id": None,
    }


def release_job(hold: Hold, ids: Sequence[int]) -> NewJob:
    """The job that routes ``ids`` when ``hold``'s window closes."""
    end = hold.occurrence.end
    return NewJob(
        kind=RELEASE,
        payload={"alert_ids": sorted(ids), "held_by": hold.window.name},
        due_at=end,
        idempotency_key=f"{RELEASE}:{hold.window.name}:{end.timestamp():.0f}:{ids_key(ids)}",
    )


class Maintenance:
    """The windows of the file and of the store: which are open, made and ended."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        wake: Callable[[], None] = lambda: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configured = tuple(w.window() for w in config.maintenance)
        self._configured_parsed: tuple[_Parsed, ...] = tuple(
            (w, _matchers(w)) for w in self._configured
        )
        self._can_silence = config.alertmanager is not None
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._wake = wake
        self._monotonic = monotonic
        # The windows made at run time as last read, with when (monotonic seconds); a change
        # made here drops them and bumps the generation, so a read that was under way then
        # is not kept.
        self._stored: tuple[_Parsed, ...] | None = None
        self._read_at = 0.0
        self._generation = 0

    def now(self) -> datetime:
        return self._clock()

    async def windows(
        self, conn: AsyncConnection | None = None, at: datetime | None = None
    ) -> list[MaintenanceWindow]:
        """The windows not over at ``at`` (default now): the file's, then those made at run
        time in the order they were made."""
        at = at if at is not None else self._clock()
        if conn is None:
            async with self._store.connection() as own:
                stored = await list_windows(own, live_at=at)
        else:
            stored = await list_windows(conn, live_at=at)
        return [w for w in (*self._configured, *stored) if not w.finished(at)]

    async def open_at(self, at: datetime, conn: AsyncConnection | None = None) -> OpenWindows:
        """The windows open at ``at``. Those made at run time come from memory while none of
        them is open (see ``REREAD``); while one is, from the table, as another process may
        have ended it: a hold must never outlive its window, as the jobs that end one early
        run once."""
        stored = await self._kept(at, conn)
        if any(w.occurrence_at(at) is not None for w, _ in stored):
            stored = await self._read(at, conn)
        found = []
        for window, matchers in (*self._configured_parsed, *stored):
            occurrence = window.occurrence_at(at)
            if occurrence is not None:
                found.append((window, occurrence, matchers))
        self._metrics.maintenance_open.set(len(found))
        return OpenWindows(at, found)

    async def _kept(self, at: datetime, conn: AsyncConnection | None) -> tuple[_Parsed, ...]:
        """The windows made at run time, read again when this process changed one or when
        the last read is ``REREAD`` seconds old."""
        if self._stored is not None and self._monotonic() - self._read_at < REREAD:
            return self._stored
        return await self._read(at, conn)

    async def _read(self, at: datetime, conn: AsyncConnection | None) -> tuple[_Parsed, ...]:
        generation, read_at = self._generation, self._monotonic()
        since = at - _KEPT
        if conn is None:
            async with self._store.connection() as own:
                stored = await list_windows(own, live_at=since)
        else:
            stored = await list_windows(conn, live_at=since)
        parsed = tuple((w, _matchers(w)) for w in stored)
        if generation == self._generation:
            self._stored, self._read_at = parsed, read_at
        return parsed

    def _changed(self) -> None:
        """A window was made or ended here (committed): the next turn reads them again."""
        self._stored = None
        self._generation += 1

    async def holding(self, alerts: Sequence[Alert]) -> dict[int, Hold]:
        """Which of ``alerts`` (firing ones) an open window holds back now, by id."""
        firing = [a for a in alerts if a.status is AlertStatus.FIRING]
        if not firing:
            return {}
        windows = await self.open_at(self._clock())
        found = {a.id: windows.hold(a.labels, a.group_key) for a in firing}
        return {i: hold for i, hold in found.items() if hold is not None}

    async def create(self, window: MaintenanceWindow, created_by: str) -> MaintenanceWindow:
        """Store a window made at run time; ``InvalidInput`` naming the field when one is
        wrong, ``Conflict`` when a live window has its name. Nothing is written then."""
        now = self._clock()
        _check_new(window, now)
        if window.silence and not self._can_silence:
            raise InvalidInput("silence", SILENCE_NEEDS)
        async with self._store.transaction() as conn:
            taken = {w.name for w in await self.windows(conn, now)}
            if window.name in taken:
                raise Conflict(f"a maintenance window named {window.name!r} exists already")
            made = await add_window(conn, window, created_by=created_by, now=now)
            await self._store.jobs.enqueue(conn, first_silence(made, now), now)
        self._changed()
        log.info("maintenance window %s made by %s", made.name, created_by)
        if made.silence:
            self._wake()
        return made

    def seed(self, now: datetime) -> list[NewJob]:
        """The silence jobs of the file's windows that ask for one (each occurrence's is
        made once, whatever the number of starts and reloads), and the job that releases what
        windows taken out of the file held and the one that expires their silences."""
        jobs = [job for w in self._configured for job in first_silence(w, now)]
        jobs.append(gone_job(now))
        if self._can_silence:
            jobs.append(sweep_job(now))
        return jobs

    async def end(self, name: str, ended_by: str) -> MaintenanceWindow:
        """End a window made at run time now: what it holds is released at once."""
        now = self._clock()
        async with self._store.transaction() as conn:
            found = next((w for w in await self.windows(conn, now) if w.name == name), None)
            if found is None:
                raise NotFound(f"no maintenance window named {name!r} is open or planned")
            if found.id is None:
                raise Conflict(
                    f"maintenance window {name!r} is defined in the configuration file; "
                    "remove it there and reload"
                )
            ended = await end_window(conn, found.id, ended_by=ended_by, now=now)
            if ended is None:
                raise NotFound(f"no maintenance window named {name!r} is open or planned")
            brought = await bring_forward(conn, WAITING_KINDS, name, now)
            if ended.silence:
                await self._store.jobs.enqueue(conn, [expire_job(ended, now)], now)
        self._changed()
        log.info("maintenance window %s ended by %s; %d held jobs due now", name, ended_by, brought)
        self._wake()
        return ended

    def count_held(self, alerts: int) -> None:
        self._metrics.maintenance_held.inc(alerts)

    def handlers(
        self, reactions: Sequence[Reaction], alertmanager: AlertmanagerClient | None = None
    ) -> dict[str, Handler]:
        silences = WindowSilences(
            alertmanager, lambda at: self.windows(at=at), self._metrics, self._store
        )
        gone = WindowsGone(self._store, self._live_names, WAITING_KINDS, self._wake)
        return {
            RELEASE: HeldReactions(self, self._store, reactions).release,
            SILENCE: silences.run,
            GONE: gone.run,
        }

    async def _live_names(self, at: datetime) -> set[str]:
        return {w.name for w in await self.windows(at=at)}


class HeldReactions:
    """Reactions that a maintenance window holds back (escalation, runbook starts): alerts an
    open window matches skip them until ``maintenance_release``."""

    def __init__(self, maintenance: Maintenance, store: Store, reactions: Sequence[Reaction]):
        self._maintenance = maintenance
        self._store = store
        self._reactions = tuple(reactions)

    async def on_new(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        return await self._react(conn, ctx, alerts)

    async def on_resolved(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        return await react_all(self._reactions, conn, ctx, alerts, new=False)

    async def release(self, ctx: JobContext) -> Outcome:
        """Alerts whose window closed: routed now, unless another window holds them."""
        async with self._store.connection() as conn:
            alerts = await self._store.alert_states(conn, alert_ids(ctx.jobs), with_labels=True)
            firing = {i: a for i, a in alerts.items() if a.status is AlertStatus.FIRING}
            reacted = await self._react(conn, ctx, firing, released=True)
        return Done(
            "released", enqueue=reacted.enqueue, events=reacted.events, routes=reacted.routes
        )

    async def _react(
        self,
        conn: AsyncConnection,
        ctx: JobContext,
        alerts: Mapping[int, AlertState],
        *,
        released: bool = False,
    ) -> Reacted:
        windows = await self._maintenance.open_at(ctx.now, conn) if alerts else None
        held: dict[tuple[str, datetime], tuple[Hold, list[int]]] = {}
        free: dict[int, AlertState] = {}
        for alert_id, alert in alerts.items():
            hold = windows.hold(alert.labels, alert.group_key) if windows is not None else None
            if hold is None or alert.status is not AlertStatus.FIRING:
                free[alert_id] = alert
            else:
                key = (hold.window.name, hold.occurrence.end)
                held.setdefault(key, (hold, []))[1].append(alert_id)
        enqueue: list[NewJob] = []
        events: list[dict[str, Any]] = []
        routes: list[dict[str, Any]] = []
        for hold, ids in held.values():
            enqueue.append(release_job(hold, ids))
            events += [_event(i, ctx.now, hold.note) for i in ids]
            self._maintenance.count_held(len(ids))
        if released and free:
            events += [
                _event(i, ctx.now, "released: its maintenance window closed; escalating from now")
                for i in free
            ]
        if free:
            reacted = await react_all(self._reactions, conn, ctx, free, new=True)
            enqueue += reacted.enqueue
            events += reacted.events
            routes += reacted.routes
        return Reacted(enqueue, events, routes)


def _check_new(window: MaintenanceWindow, now: datetime) -> None:
    """What a window made at run time must be, beyond what parsing it checked."""
    if window.recurring:
        if window.starts_at is not None and window.starts_at - now > MAX_AHEAD:
            raise InvalidInput("start", "expected a time within a year from now")
        if window.next_occurrence(now) is None:
            raise InvalidInput("rrule" if window.rrule else "cron", "never opens from now on")
        return
    assert window.starts_at is not None and window.ends_at is not None
    if window.ends_at <= window.starts_at:
        raise InvalidInput("end", "expected a time after start")
    if window.ends_at <= now:
        raise InvalidInput("end", "expected a time in the future")
    if window.ends_at - window.starts_at > MAX_DURATION:
        raise InvalidInput("end", "expected a window of at most 31d")
    if window.starts_at - now > MAX_AHEAD:
        raise InvalidInput("start", "expected a time within a year from now")
