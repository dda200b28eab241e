"""Grafana annotations: alerts firing and resolving, runbooks starting and finishing, marked on
the dashboards' graphs through Grafana's HTTP API (``POST /api/annotations``).

Each annotation is a durable ``annotate`` job enqueued in the same transaction as what it
marks, so a Grafana outage delays annotations and loses none; its idempotency key names the
event, so none is written twice. Grafana's 4xx (a bad token, a missing permission) dead-letters
the job with Grafana's answer; 429, 5xx and transport errors are retried with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection

from receiver.config import GrafanaConfig
from receiver.job_handlers import DeadLetter, Done, Handler, JobContext, Outcome, Retry
from receiver.model import NewJob
from receiver.reactions import Reacted, alert_ids
from receiver.store import Store
from receiver.store.store import AlertState

log = logging.getLogger("firebreak.grafana")

# Alert names an annotation lists; the rest are counted.
_NAMES_SHOWN = 10


def annotation_job(
    key: str, text: str, tags: Sequence[str], at: datetime, alert_ids: Sequence[int] = ()
) -> NewJob:
    """An annotation to write; ``key`` names the event, so it is written once."""
    return NewJob(
        kind="annotate",
        payload={
            "text": text,
            "tags": list(tags),
            "time_ms": int(at.timestamp() * 1000),
            "alert_ids": list(alert_ids),
        },
        due_at=at,
        idempotency_key=f"annotate:{key}",
    )


class Annotator:
    """Writes annotation jobs to Grafana."""

    def __init__(self, config: GrafanaConfig, session: aiohttp.ClientSession, store: Store) -> None:
        self._url = config.url.rstrip("/") + "/api/annotations"
        self._headers = {"Authorization": f"Bearer {config.token}"}
        self._timeout = aiohttp.ClientTimeout(total=config.timeout.total_seconds())
        self._tags = list(config.tags)
        self._session = session
        self._store = store

    def handlers(self) -> dict[str, Handler]:
        return {"annotate": self.annotate}

    async def on_new(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        """Alerts that start escalating are marked "fired" on Grafana's graphs."""
        return self._marked(ctx, "fired")

    async def on_resolved(
        self, conn: AsyncConnection, ctx: JobContext, alerts: Mapping[int, AlertState]
    ) -> Reacted:
        """Alerts that end (resolved by Alertmanager or a person) are marked "resolved"."""
        return self._marked(ctx, "resolved")

    @staticmethod
    def _marked(ctx: JobContext, event: str) -> Reacted:
        """An annotation of the job's alerts ``event``; its text is made when the annotate
        job runs, from the alerts as stored then."""
        ids = alert_ids(ctx.jobs)
        if not ids:
            return Reacted()
        key = f"alerts:{event}:{ids[0]}-{ids[-1]}-{len(ids)}:{ctx.job.id}"
        return Reacted(
            enqueue=[annotation_job(key, "", ["firebreak", "alert", event], ctx.now, ids)]
        )

    async def _alert_text(self, ids: Sequence[int], event: str) -> tuple[str, list[str]]:
        async with self._store.connection() as conn:
            alerts = await self._store.alerts_by_ids(conn, list(ids))
        names = sorted({a.labels.get("alertname", "?") for a in alerts})
        shown = ", ".join(names[:_NAMES_SHOWN])
        more = f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else ""
        count = f"{len(alerts)} alerts" if len(alerts) != 1 else "alert"
        summary = ""
        if len(alerts) == 1:
            summary = alerts[0].annotations.get("summary", "")
            summary = f": {summary}" if summary else ""
        return f"{count} {event}: {shown}{more}{summary}", names[:_NAMES_SHOWN]

    async def annotate(self, ctx: JobContext) -> Outcome:
        p = ctx.job.payload
        text, tags = p["text"], [*self._tags, *p["tags"]]
        if p.get("alert_ids"):
            event = p["tags"][-1]
            text, names = await self._alert_text(p["alert_ids"], event)
            if not names:
                return Done("alerts_gone")
            tags += [f"alertname:{n}" for n in names]
        body = {"time": p["time_ms"], "tags": tags, "text": text}
        try:
            async with self._session.post(
                self._url,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                answer = (await resp.text())[:300]
                if resp.status == 429 or resp.status >= 500:
                    return Retry(f"Grafana answered {resp.status}: {answer}")
                if resp.status >= 300:
                    return DeadLetter(f"Grafana refused the annotation ({resp.status}): {answer}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Retry(f"Grafana: {type(exc).__name__}: {exc}")
        return Done("annotated")
