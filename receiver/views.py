"""The JSON form of alerts, their events and jobs, as the API shows them and the CLI prints
them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from receiver.alertmanager import format_rfc3339
from receiver.durations import format_duration
from receiver.grafana_webhook import grafana_links
from receiver.model import Alert, AlertEvent, Job, Page, RaisedPage
from receiver.windows import MaintenanceWindow, Occurrence


def ts(value: datetime | None) -> str | None:
    return format_rfc3339(value) if value is not None else None


def alert_json(alert: Alert, held: HeldBy | None = None) -> dict[str, Any]:
    """An alert; ``held`` the maintenance window holding it back now, if one does."""
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "status": alert.status.value,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "starts_at": ts(alert.starts_at),
        "ends_at": ts(alert.ends_at),
        "first_seen_at": ts(alert.first_seen_at),
        "last_seen_at": ts(alert.last_seen_at),
        "acknowledged_at": ts(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_by": alert.resolved_by,
        "generator_url": alert.generator_url,
        "group_key": alert.group_key,
        "snoozed_until": ts(alert.snoozed_until),
        "grafana": _grafana_json(alert),
        "held_by": held_json(held) if held is not None else None,
    }


HeldBy = tuple[MaintenanceWindow, Occurrence]


def held_json(held: HeldBy) -> dict[str, Any]:
    window, occurrence = held
    return {
        "window": window.name,
        "reason": window.reason,
        "owner": window.owner,
        "until": ts(occurrence.end),
    }


def window_json(window: MaintenanceWindow, now: datetime) -> dict[str, Any]:
    """A maintenance window, with the occurrence open at ``now`` or next to open."""
    current = window.occurrence_at(now)
    coming = current or window.next_occurrence(now)
    return {
        "name": window.name,
        "matchers": list(window.matchers),
        "reason": window.reason,
        "owner": window.owner,
        "source": window.source,
        "start": ts(window.starts_at),
        "end": ts(window.ends_at),
        "rrule": window.rrule,
        "cron": window.cron,
        "duration": format_duration(window.duration) if window.duration is not None else None,
        "time_zone": window.time_zone,
        "silence": window.silence,
        "open": current is not None,
        "opens_at": ts(coming.start) if coming is not None else None,
        "closes_at": ts(coming.end) if coming is not None else None,
        "created_by": window.created_by,
        "created_at": ts(window.created_at),
        "ended_at": ts(window.ended_at),
        "ended_by": window.ended_by,
    }


def _grafana_json(alert: Alert) -> dict[str, Any] | None:
    """A Grafana-managed alert's links (http and https only) and values; None for others."""
    links = grafana_links(alert.extra)
    return None if links.is_empty() else links.to_json()


def event_json(event: AlertEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind.value,
        "at": ts(event.at),
        "actor": event.actor,
        "note": event.note,
        "request_id": event.request_id,
    }


def job_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "payload": job.payload,
        "due_at": ts(job.due_at),
        "attempts": job.attempts,
        "last_error": job.last_error,
        "outcome": job.outcome,
        "idempotency_key": job.idempotency_key,
        "lease_owner": job.lease_owner,
        "started_at": ts(job.started_at),
        "created_at": ts(job.created_at),
        "finished_at": ts(job.finished_at),
    }


def raised_json(raised: RaisedPage | None) -> dict[str, Any] | None:
    """A page raised by hand as recorded (None for an alert that was not)."""
    if raised is None:
        return None
    target = raised.page.target
    return {
        "key": raised.page.key,
        "raised_by": raised.raised_by,
        "raised_at": ts(raised.raised_at),
        "target": str(target) if target is not None else None,
    }


def page_json(page: Page, name: str = "") -> dict[str, Any]:
    """A page of an alert: who (``name``: the person's name, their id when they have none),
    when, by which tier and through which entry."""
    return {
        "person": page.person,
        "name": name or page.person,
        "paged_at": ts(page.paged_at),
        "policy": page.policy,
        "route": page.route,
        "tier": page.tier,
        "repeat": page.repeat,
        "via": page.via,
        "contacts": list(page.contacts),
    }
