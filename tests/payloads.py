"""Alertmanager webhook payloads as Alertmanager 0.25+ sends them, for tests and benchmarks."""

from __future__ import annotations

import hashlib
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def fingerprint_of(labels: dict[str, str]) -> str:
    """A stable 16-hex-digit fingerprint, shaped like Alertmanager's."""
    text = "\x00".join(f"{k}\x00{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert(
    alertname: str = "HighErrorRate",
    *,
    status: str = "firing",
    starts_at: str = "2026-11-23T08:00:00.123456789Z",
    ends_at: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    all_labels = {"alertname": alertname, "severity": "critical", "service": "checkout"}
    all_labels.update(labels or {})
    return {
        "status": status,
        "labels": all_labels,
        "annotations": annotations
        if annotations is not None
        else {"summary": f"{alertname} on checkout", "runbook_url": "https://runbooks/x"},
        "startsAt": starts_at,
        "endsAt": ends_at or (ZERO_TIME if status == "firing" else "2026-11-23T09:00:00Z"),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint or fingerprint_of(all_labels),
    }


def webhook(
    *alerts: dict[str, Any], group_key: str = '{}:{alertname="HighErrorRate"}', truncated: int = 0
) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    common = dict(alerts[0]["labels"]) if alerts else {}
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": truncated,
        "status": "firing" if firing else "resolved",
        "receiver": "firebreak",
        "groupLabels": {"alertname": common.get("alertname", "")} if common else {},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
