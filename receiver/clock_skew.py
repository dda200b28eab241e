"""Alerts from the future: an alert whose ``startsAt`` lies ahead of the moment Firebreak first
saw it. Some clock is wrong (Prometheus's, Alertmanager's, this host's) or a sender made the
time up; either way escalation counts from when Firebreak first saw the alert (see
``escalation_start``), so a ``startsAt`` in year 9999 pages at once instead of never.

Each one is counted (``firebreak_alert_start_skew_seconds``, alert
``FirebreakAlertsFromTheFuture``), logged, and shown in ``/health/detailed`` (``clock``) by the
replica that routed it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from receiver.alertmanager import format_rfc3339
from receiver.metrics import Metrics

log = logging.getLogger("firebreak.escalation")

# Below this, a startsAt ahead of the receive time is the ordinary disagreement of clocks kept
# by NTP (milliseconds) over a pipeline that can take none (group_wait: 0s): not worth a word.
NOTICEABLE_SKEW = timedelta(seconds=1)

# How long /health/detailed calls the clock check degraded after an alert from the future.
_DEGRADED_FOR = timedelta(hours=1)


def escalation_start(starts_at: datetime, first_seen_at: datetime) -> datetime:
    """When an alert's escalation starts counting: its ``startsAt``, unless that is ahead of
    the moment Firebreak first saw it."""
    return min(starts_at, first_seen_at)


@dataclass(frozen=True, slots=True)
class SkewedAlert:
    """The latest alert from the future."""

    alert_id: int
    alertname: str
    skew: timedelta
    first_seen_at: datetime


class ClockSkew:
    """What this replica saw of alerts from the future, since it started."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.count = 0
        self.largest = timedelta(0)
        self.latest: SkewedAlert | None = None

    def observe(
        self, alert_id: int, alertname: str, starts_at: datetime, first_seen_at: datetime
    ) -> None:
        """Count an alert whose ``startsAt`` is noticeably ahead of when it was first seen."""
        skew = starts_at - first_seen_at
        if skew < NOTICEABLE_SKEW:
            return
        self.count += 1
        self.largest = max(self.largest, skew)
        self.latest = SkewedAlert(alert_id, alertname, skew, first_seen_at)
        self._metrics.alert_start_skew.observe(skew.total_seconds())
        log.warning(
            "alert %d (%s) starts %s, %d s after Firebreak first saw it: a clock is wrong; "
            "escalating from when it was first seen",
            alert_id,
            alertname,
            format_rfc3339(starts_at),
            int(skew.total_seconds()),
            extra={"alert_id": alert_id, "skew_seconds": round(skew.total_seconds(), 3)},
        )

    def check(self, now: datetime) -> dict[str, Any]:
        """The ``clock`` entry of /health/detailed: degraded for an hour after an alert from the
        future."""
        latest = self.latest
        recent = latest is not None and now - latest.first_seen_at < _DEGRADED_FOR
        found: dict[str, Any] = {
            "status": "degraded" if recent else "ok",
            "alerts_from_the_future": self.count,
            "largest_skew_seconds": round(self.largest.total_seconds(), 3),
            "latest_alert_id": None,
            "latest_alertname": None,
            "latest_skew_seconds": None,
            "latest_first_seen_at": None,
        }
        if latest is not None:  # flat, as the console's health page shows each check
            found["latest_alert_id"] = latest.alert_id
            found["latest_alertname"] = latest.alertname
            found["latest_skew_seconds"] = round(latest.skew.total_seconds(), 3)
            found["latest_first_seen_at"] = format_rfc3339(latest.first_seen_at)
        return found
