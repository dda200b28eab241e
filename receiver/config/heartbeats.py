"""Heartbeats: what Prometheus cannot scrape (cron jobs, batch runs, backups) reports in by
``POST /api/v1/heartbeats/{name}``, or an alert that must keep arriving (Prometheus's
always-firing ``Watchdog``); one that goes quiet for its interval and grace raises an alert
through the ordinary routes (see ``receiver.heartbeats``). The ``watchdog`` section is the
heartbeat ``watchdog`` fed by that alert (``watchdog_heartbeat``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from receiver.config.checks import non_negative_duration, not_empty, positive_duration
from receiver.config.integrations import WatchdogConfig
from receiver.config.oncall import check_id
from receiver.config.walker import empty_mapping
from receiver.config.yaml import join
from receiver.durations import format_duration

HEARTBEAT_LABEL = "heartbeat"
"""The label naming the heartbeat on the alert it raises; set by Firebreak, never by config."""

WATCHDOG_HEARTBEAT = "watchdog"
"""The name of the heartbeat the ``watchdog`` section stands for."""

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def check_heartbeat_names(heartbeats: Mapping[str, object]) -> str | None:
    """Names go in a URL path, a CLI argument and a label value: keep them plain."""
    for name in heartbeats:
        problem = check_id(name)
        if problem is not None:
            shown = name if len(name) <= 64 and name.isprintable() else "a name"
            return f"heartbeat {shown!r}: {problem}"
    return None


def _check_labels(labels: Mapping[str, str]) -> str | None:
    for name in labels:
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            return f"label {name!r}: expected a Prometheus label name such as team"
        if name == HEARTBEAT_LABEL:
            return f"label {name!r}: set by Firebreak to the heartbeat's name"
    return None


@dataclass(frozen=True, slots=True)
class HeartbeatConfig:
    """One heartbeat: a beat is due every ``interval``; when none has come for ``interval``
    plus ``grace`` since the last (or since Firebreak first knew of the heartbeat), Firebreak
    raises ``alertname`` with ``labels`` and ``heartbeat: <name>``, and resolves it at the
    next beat. A beat is a request with ``token``, or ``alert`` arriving firing, or either."""

    interval: timedelta = field(metadata={"check": positive_duration})
    # What the sender presents as ``Authorization: Bearer <token>``; compared in constant time.
    token: str | None = field(
        default=None, repr=False, metadata={"secret": True, "check": not_empty}
    )
    # An alert whose every arrival, firing, is a beat (recorded, never escalated).
    alert: str | None = field(default=None, metadata={"check": not_empty})
    # How late a beat may be before it counts as missing: a job's own run time and jitter.
    grace: timedelta = field(
        default=timedelta(minutes=5), metadata={"check": non_negative_duration}
    )
    # While an ``alert`` heartbeat is missing, how often to look for the alert's return.
    check_interval: timedelta = field(
        default=timedelta(seconds=30), metadata={"check": positive_duration}
    )
    alertname: str = field(default="HeartbeatMissing", metadata={"check": not_empty})
    # Labels of the alert raised (team, severity…); severity is warning unless given here.
    labels: Mapping[str, str] = field(
        default_factory=empty_mapping, metadata={"check": _check_labels}
    )
    summary: str | None = field(default=None, metadata={"check": not_empty})
    description: str | None = field(default=None, metadata={"check": not_empty})

    @property
    def overdue_after(self) -> timedelta:
        """How long after a beat (or registration) the heartbeat counts as missing."""
        return self.interval + self.grace

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        problems = []
        if self.token is None and self.alert is None:
            problems.append((path, "give a token (beats by request), an alert, or both"))
        if "alertname" in self.labels:
            problems.append(
                (join(path, "labels"), "give the alert's name as alertname, not a label")
            )
        if self.alert is not None and self.alert == self.alertname:
            problems.append((join(path, "alert"), "the alert that beats cannot be the one raised"))
        return problems


def watchdog_heartbeat(watchdog: WatchdogConfig) -> HeartbeatConfig:
    """The heartbeat the ``watchdog`` section stands for: Prometheus's always-firing alert must
    keep arriving, or Firebreak raises ``MonitoringPipelineBroken`` (critical)."""
    name = watchdog.alertname
    return HeartbeatConfig(
        interval=watchdog.timeout,
        alert=name,
        grace=timedelta(0),
        check_interval=watchdog.check_interval,
        alertname="MonitoringPipelineBroken",
        labels={"severity": "critical", **watchdog.labels},
        summary=f"The monitoring pipeline is broken: no {name} alert for over "
        f"{format_duration(watchdog.timeout)}",
        description=f"The always-firing {name} alert has not arrived for over "
        f"{format_duration(watchdog.timeout)}. Prometheus, Alertmanager, or the path from them "
        "to Firebreak is down: alerts may not be reaching anyone.",
    )


def every_heartbeat(
    heartbeats: Mapping[str, HeartbeatConfig], watchdog: WatchdogConfig | None
) -> Mapping[str, HeartbeatConfig]:
    """The heartbeats in force: those of ``heartbeats`` and the watchdog's."""
    if watchdog is None:
        return heartbeats
    return MappingProxyType({WATCHDOG_HEARTBEAT: watchdog_heartbeat(watchdog), **heartbeats})
