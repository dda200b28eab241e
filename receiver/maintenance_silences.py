"""The Alertmanager silences of maintenance windows that ask for one (``silence: true``,
docs/maintenance.md): one silence per occurrence, with the window's matchers, from its start to
its end; expired when the window is ended early.

Both are ``maintenance_silence`` jobs. Alertmanager's silences carry no idempotency key, so
each silence's comment ends with a marker,
``[firebreak-maintenance:<window>:<occurrence start>]``, and a job looks for it
(``GET /silences``) before it creates one: a retried or replayed job finds the silence it made
instead of making a second. A recurring window's job enqueues the
next occurrence's, due a little before that occurrence opens.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from receiver.alertmanager import format_rfc3339, parse_rfc3339
from receiver.alertmanager_api import (
    AlertmanagerClient,
    AlertmanagerRejected,
    AlertmanagerUnavailable,
    api_matcher,
)
from receiver.jobs import DeadLetter, Done, JobContext, Outcome, Retry
from receiver.matchers import parse_matchers
from receiver.model import NewJob
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


_MARKED = re.compile(r"\[" + MARKER + r":([A-Za-z0-9._-]+):[^\[\]]+\]\Z")


def silence_job(window: MaintenanceWindow, occurrence: Occurrence, due: datetime) -> NewJob:
    """The job that creates the silence of ``window``'s ``occurrence``."""
    return NewJob(
        kind=SILENCE,
        payload={
            "action": "create",
            "window": window.name,
            "start": format_rfc3339(occurrence.start),
            "end": format_rfc3339(occurrence.end),
        },
        due_at=due,
        idempotency_key=f"{SILENCE}:{window.name}:{occurrence.start.timestamp():.0f}",
    )


def first_silence(window: MaintenanceWindow, now: datetime) -> list[NewJob]:
    """The job for the silence of ``window``'s current or next occurrence, due now; none when
    the window does not silence or never opens again."""
    if not window.silence:
        return []
    occurrence = window.next_occurrence(now)
    return [] if occurrence is None else [silence_job(window, occurrence, now)]


def expire_job(window: MaintenanceWindow, now: datetime) -> NewJob:
    """The job that expires every silence of ``window`` (ended early at ``now``)."""
    return NewJob(
        kind=SILENCE,
        payload={"action": "expire", "window": window.name},
        due_at=now,
        idempotency_key=f"{SILENCE}:{window.name}:expire:{now.timestamp():.0f}",
    )


class WindowSilences:
    """Runs ``maintenance_silence`` jobs against Alertmanager."""

    def __init__(self, client: AlertmanagerClient | None, live: LiveWindows) -> None:
        self._client = client
        self._live = live

    async def run(self, ctx: JobContext) -> Outcome:
        if self._client is None:
            return DeadLetter("no alertmanager section: there is no Alertmanager to silence in")
        payload = ctx.job.payload
        try:
            if payload.get("action") == "expire":
                return await self._expire(self._client, str(payload["window"]))
            return await self._create(self._client, ctx)
        except AlertmanagerUnavailable as exc:
            return Retry(str(exc))
        except AlertmanagerRejected as exc:
            return DeadLetter(f"Alertmanager refused the silence: {exc}")

    async def _create(self, client: AlertmanagerClient, ctx: JobContext) -> Outcome:
        payload = ctx.job.payload
        name = str(payload["window"])
        start, end = parse_rfc3339(payload["start"]), parse_rfc3339(payload["end"])
        window = next((w for w in await self._live(ctx.now) if w.name == name), None)
        if window is None or not window.silence:
            return Done("window over")
        follow = _next(window, end)
        if end <= ctx.now:
            return Done("occurrence over", enqueue=follow)
        tag = marker(name, start)
        found = [
            s for s in await client.silences() if s.comment.endswith(tag) and s.state != "expired"
        ]
        if found:
            return Done(f"silence {found[0].id} exists", enqueue=follow)
        matchers = [api_matcher(m) for t in window.matchers for m in parse_matchers(t)]
        comment = f"maintenance window {name}: {window.reason} (owner {window.owner}) {tag}"
        silence_id = await client.create_silence(matchers, start, end, CREATED_BY, comment)
        log.info("maintenance window %s: silence %s until %s", name, silence_id, payload["end"])
        return Done(f"silence {silence_id}", enqueue=follow)

    async def _expire(self, client: AlertmanagerClient, name: str) -> Outcome:
        expired = []
        for silence in await client.silences():
            if _window_of(silence.comment) == name and silence.state != "expired":
                await client.expire_silence(silence.id)
                expired.append(silence.id)
        log.info("maintenance window %s ended: silences %s expired", name, expired)
        return Done(f"expired {len(expired)}")


def _next(window: MaintenanceWindow, end: datetime) -> list[NewJob]:
    """A recurring window's next occurrence's job, due a little before it opens."""
    if not window.recurring:
        return []
    occurrence = window.next_occurrence(end)
    if occurrence is None:
        return []
    return [silence_job(window, occurrence, occurrence.start - SILENCE_LEAD)]
