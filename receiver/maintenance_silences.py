"""The Alertmanager silences of maintenance windows that ask for one (``silence: true``,
docs/maintenance.md): one silence per occurrence, with the window's matchers, from its start to
its end; expired when the window is ended early.

All of it is ``maintenance_silence`` jobs, of four actions:

- ``create`` makes one occurrence's silence. Alertmanager's silences carry no idempotency key,
  so each silence's comment ends with a marker,
  ``[firebreak-maintenance:<window>:<occurrence start>]``, and the job looks for it
  (``GET /silences``) before it creates one: a retried or replayed job finds the silence it
  made instead of making a second. A silence with the marker whose matchers or end are no
  longer the window's (the file was edited and reloaded) is replaced: the new one is made,
  then the old one expired. The job's key carries a fingerprint of the matchers and the end,
  so a reload that changes them enqueues a new job, and one that changes nothing does not.
- ``plan`` (recurring windows) enqueues an occurrence's ``create``, due a little before it
  opens, and the ``plan`` of the occurrence after it. It asks nothing of Alertmanager, so a
  ``create`` that fails for good (a dead letter) does not end the chain of the occurrences
  after it.
- ``expire`` expires every silence of a window ended early.
- ``sweep``, at every start and reload, expires the silences of windows this deployment
  silenced that are gone or no longer silence (taken out of the file, ``silence: true`` taken
  off), and those of occurrences a window no longer has (its ``cron``, ``rrule`` or ``start``
  changed); a window name it never silenced (another deployment's, sharing the Alertmanager)
  is left alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from receiver.alertmanager import format_rfc3339, parse_rfc3339
from receiver.alertmanager_api import (
    AlertmanagerClient,
    AlertmanagerRejected,
    AlertmanagerUnavailable,
    Silence,
    api_matcher,
)
from receiver.job_handlers import DeadLetter, Done, JobContext, Outcome, Retry
from receiver.matchers import parse_matchers
from receiver.metrics import Metrics
from receiver.model import NewJob
from receiver.store import Store
from receiver.store.maintenance import free_keys, silenced_windows
from receiver.windows import MaintenanceWindow, Occurrence

log = logging.getLogger("firebreak.maintenance")

SILENCE = "maintenance_silence"
MARKER = "firebreak-maintenance"
# A recurring window's next silence is made this long before its occurrence opens, so an
# alert firing at the very start is silenced too.
SILENCE_LEAD = timedelta(minutes=5)
CREATED_BY = "firebreak"

LiveWindows = Callable[[datetime], Awaitable[list[MaintenanceWindow]]]


def marker(window: str, start: datetime) -> str:
    """What the comment of ``window``'s silence for the occurrence from ``start`` ends with."""
    return f"[{MARKER}:{window}:{format_rfc3339(start)}]"


def _window_of(comment: str) -> str | None:
    """The window a silence's comment names in its closing marker (the reason and owner come
    before it, so text in them never passes for another window's marker)."""
    found = _MARKED.search(comment)
    return None if found is None else found.group(1)


def _start_of(comment: str) -> datetime | None:
    """The occurrence start a silence's closing marker names, or None."""
    found = _MARKED.search(comment)
    try:
        return None if found is None else parse_rfc3339(found.group(2))
    except ValueError:
        return None


_MARKED = re.compile(r"\[" + MARKER + r":([A-Za-z0-9._-]+):([^\[\]]+)\]\Z")


def _api_matchers(window: MaintenanceWindow) -> list[dict[str, object]]:
    return [api_matcher(m) for t in window.matchers for m in parse_matchers(t)]


def _matcher_set(matchers: list[dict[str, object]] | tuple[Mapping[str, object], ...]) -> set[str]:
    return {json.dumps(dict(m), sort_keys=True) for m in matchers}


def fingerprint(window: MaintenanceWindow, occurrence: Occurrence) -> str:
    """What ``occurrence``'s silence is (its matchers and end) and whose (a window made at run
    time by its row: one ended and made again under its name is another), in twelve hex
    digits."""
    what = [
        *sorted(_matcher_set(_api_matchers(window))),
        format_rfc3339(occurrence.end),
        window.id,
    ]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:12]


def _key_prefix(window: str, start: datetime) -> str:
    return f"{SILENCE}:{window}:{start.timestamp():.0f}:"


def silence_job(window: MaintenanceWindow, occurrence: Occurrence, due: datetime) -> NewJob:
    """The job that creates (or replaces) the silence of ``window``'s ``occurrence``."""
    printed = fingerprint(window, occurrence)
    return NewJob(
        kind=SILENCE,
        payload={
            "action": "create",
            "window": window.name,
            "start": format_rfc3339(occurrence.start),
            "end": format_rfc3339(occurrence.end),
            "fingerprint": printed,
        },
        due_at=due,
        idempotency_key=_key_prefix(window.name, occurrence.start) + printed,
    )


def plan_job(window: MaintenanceWindow, occurrence: Occurrence) -> NewJob:
    """The job that, a little before ``occurrence`` opens, enqueues its silence's job and the
    next occurrence's plan."""
    return NewJob(
        kind=SILENCE,
        payload={
            "action": "plan",
            "window": window.name,
            "start": format_rfc3339(occurrence.start),
        },
        due_at=occurrence.start - SILENCE_LEAD,
        idempotency_key=f"{SILENCE}:{window.name}:plan:{occurrence.start.timestamp():.0f}",
    )


def first_silence(window: MaintenanceWindow, now: datetime) -> list[NewJob]:
    """The job for the silence of ``window``'s current or next occurrence, due now, and the
    plan of the occurrence after it; none when the window does not silence or never opens
    again. Enqueued when a window is made, and at every start and reload for the file's."""
    if not window.silence:
        return []
    occurrence = window.next_occurrence(now)
    if occurrence is None:
        return []
    return [silence_job(window, occurrence, now), *_next_plan(window, occurrence)]


def _next_plan(window: MaintenanceWindow, occurrence: Occurrence) -> list[NewJob]:
    if not window.recurring:
        return []
    following = window.next_occurrence(occurrence.end)
    return [] if following is None else [plan_job(window, following)]


def sweep_job(now: datetime) -> NewJob:
    """The job that expires the silences of windows that are gone or no longer silence (taken
    out of the file, or ``silence: true`` taken off) and of occurrences they no longer have;
    one for each start and reload."""
    return NewJob(
        kind=SILENCE,
        payload={"action": "sweep"},
        due_at=now,
        idempotency_key=f"{SILENCE}:sweep:{now.timestamp():.0f}:{secrets.token_hex(8)}",
    )


def expire_job(window: MaintenanceWindow, now: datetime) -> NewJob:
    """The job that expires every silence of ``window`` (ended early at ``now``)."""
    return NewJob(
        kind=SILENCE,
        payload={"action": "expire", "window": window.name},
        due_at=now,
        idempotency_key=f"{SILENCE}:{window.name}:expire:{window.id}:{now.timestamp():.0f}",
    )


class WindowSilences:
    """Runs ``maintenance_silence`` jobs against Alertmanager."""

    def __init__(
        self, client: AlertmanagerClient | None, live: LiveWindows, metrics: Metrics, store: Store
    ) -> None:
        self._client = client
        self._live = live
        self._metrics = metrics
        self._store = store

    async def run(self, ctx: JobContext) -> Outcome:
        payload = ctx.job.payload
        if payload.get("action") == "plan":
            return await self._plan(ctx)
        if self._client is None:
            return DeadLetter("no alertmanager section: there is no Alertmanager to silence in")
        try:
            if payload.get("action") == "expire":
                return await self._expire(self._client, str(payload["window"]))
            if payload.get("action") == "sweep":
                return await self._sweep(self._client, ctx.now)
            return await self._create(self._client, ctx)
        except AlertmanagerUnavailable as exc:
            self._metrics.maintenance_silence_failures.labels("unreachable").inc()
            return Retry(str(exc))
        except AlertmanagerRejected as exc:
            self._metrics.maintenance_silence_failures.labels("refused").inc()
            return DeadLetter(f"Alertmanager refused the silence: {exc}")

    async def _occurrence(self, ctx: JobContext) -> tuple[MaintenanceWindow, Occurrence] | str:
        """The live window of the job and its occurrence from the job's start, or why there
        is none (the window is over or no longer silences, or that occurrence moved)."""
        name = str(ctx.job.payload["window"])
        start = parse_rfc3339(ctx.job.payload["start"])
        window = next((w for w in await self._live(ctx.now) if w.name == name), None)
        if window is None or not window.silence:
            return "window over"
        occurrence = window.occurrence_at(start)
        if occurrence is None or occurrence.start != start:
            return "the window no longer opens then"
        return window, occurrence

    async def _plan(self, ctx: JobContext) -> Outcome:
        found = await self._occurrence(ctx)
        if isinstance(found, str):
            return Done(found)
        window, occurrence = found
        return Done(
            "planned",
            enqueue=[silence_job(window, occurrence, ctx.now), *_next_plan(window, occurrence)],
        )

    async def _create(self, client: AlertmanagerClient, ctx: JobContext) -> Outcome:
        found = await self._occurrence(ctx)
        if isinstance(found, str):
            return Done(found)
        window, occurrence = found
        asked = ctx.job.payload.get("fingerprint")
        if asked is not None and asked != fingerprint(window, occurrence):
            return Done("window changed since: another job's silence")
        if occurrence.end <= ctx.now:
            return Done("occurrence over")
        tag = marker(window.name, occurrence.start)
        matchers = _api_matchers(window)
        marked = [s for s in await client.silences() if _ours(s) and s.comment.endswith(tag)]
        kept = [s for s in marked if _same(s, matchers, occurrence.end)]
        made = kept[0].id if kept else None
        if made is None:
            comment = (
                f"maintenance window {window.name}: {window.reason} (owner {window.owner}) {tag}"
            )
            made = await client.create_silence(
                matchers, occurrence.start, occurrence.end, CREATED_BY, comment
            )
            self._metrics.maintenance_silences_created.inc()
            log.info(
                "maintenance window %s: silence %s until %s",
                window.name,
                made,
                format_rfc3339(occurrence.end),
            )
        # Made first, expired after: the alerts are never unsilenced in between, and a retry
        # after a failure here finds the new one and expires what is left.
        stale = [s.id for s in marked if s.id != made]
        for silence_id in stale:
            await client.expire_silence(silence_id)
            self._metrics.maintenance_silences_expired.inc()
        # The jobs of this occurrence's earlier silences give up their keys: a reload back to
        # what they made (matchers A, then B, then A again) enqueues a job for it again.
        async with self._store.transaction() as conn:
            await free_keys(
                conn, _key_prefix(window.name, occurrence.start), ctx.job.idempotency_key
            )
        if stale:
            log.info("maintenance window %s changed: silences %s replaced", window.name, stale)
            return Done(f"silence {made} replaced {len(stale)}")
        return Done(f"silence {made}" + (" exists" if kept else ""))

    async def _sweep(self, client: AlertmanagerClient, now: datetime) -> Outcome:
        silencing = {w.name: w for w in await self._live(now) if w.silence}
        async with self._store.connection() as conn:
            known = await silenced_windows(conn, SILENCE)
        expired = []
        for silence in await client.silences() if known else ():
            name = _window_of(silence.comment) if _ours(silence) else None
            if name in known and not _still_planned(silencing.get(name), silence):
                await client.expire_silence(silence.id)
                expired.append(silence.id)
                self._metrics.maintenance_silences_expired.inc()
        if expired:
            log.info("silences of maintenance windows gone or moved expired: %s", expired)
        return Done(f"expired {len(expired)} of windows gone or moved")

    async def _expire(self, client: AlertmanagerClient, name: str) -> Outcome:
        expired = []
        for silence in await client.silences():
            if _ours(silence) and _window_of(silence.comment) == name:
                await client.expire_silence(silence.id)
                expired.append(silence.id)
                self._metrics.maintenance_silences_expired.inc()
        log.info("maintenance window %s ended: silences %s expired", name, expired)
        return Done(f"expired {len(expired)}")


def _still_planned(window: MaintenanceWindow | None, silence: Silence) -> bool:
    """Whether ``silence`` is of an occurrence ``window`` (live and silencing) still has: its
    schedule may have changed (another cron, another start) since it was made."""
    start = _start_of(silence.comment)
    if window is None or start is None:
        return False
    occurrence = window.occurrence_at(start)
    return occurrence is not None and occurrence.start == start


def _ours(silence: Silence) -> bool:
    """A silence Firebreak made for a window and that is not expired: only those are found,
    replaced and expired, so a silence someone else made (from Slack, say) with a comment
    ending in a window's marker is neither taken for the window's nor expired with it."""
    return silence.created_by == CREATED_BY and silence.state != "expired"


def _same(silence: Silence, matchers: list[dict[str, object]], end: datetime) -> bool:
    """Whether ``silence`` silences exactly ``matchers`` until ``end``."""
    try:
        ends_at = parse_rfc3339(silence.ends_at)
    except ValueError:
        return False
    # Alertmanager keeps times to the millisecond.
    close = abs(ends_at - end) < timedelta(milliseconds=1)
    return close and _matcher_set(silence.matchers) == _matcher_set(matchers)
