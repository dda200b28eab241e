"""Heartbeats: what Prometheus cannot scrape (cron jobs, batch runs, backups) reports in by
``POST /api/v1/heartbeats/{name}``; one that goes quiet for its interval and grace raises an
alert through the ordinary routes (see ``receiver.heartbeats``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from receiver.config.checks import non_negative_duration, not_empty, positive_duration
from receiver.config.oncall import check_id
from receiver.config.walker import empty_mapping
from receiver.config.yaml import join

HEARTBEAT_LABEL = "heartbeat"
"""The label naming the heartbeat on the alert it raises; set by Firebreak, never by config."""

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
    next beat."""

    # What the sender presents as ``Authorization: Bearer <token>``; compared in constant time.
    token: str = field(repr=False, metadata={"secret": True, "check": not_empty})
    interval: timedelta = field(metadata={"check": positive_duration})
    # How late a beat may be before it counts as missing: a job's own run time and jitter.
    grace: timedelta = field(
        default=timedelta(minutes=5), metadata={"check": non_negative_duration}
    )
    alertname: str = field(default="HeartbeatMissing", metadata={"check": not_empty})
    # Labels of the alert raised (team, severity…); severity is warning unless given here.
    labels: Mapping[str, str] = field(
        default_factory=empty_mapping, metadata={"check": _check_labels}
    )
    description: str | None = field(default=None, metadata={"check": not_empty})

    @property
    def overdue_after(self) -> timedelta:
        """How long after a beat (or registration) the heartbeat counts as missing."""
        return self.interval + self.grace

    def cross_check(self, path: str) -> list[tuple[str, str]]:
        if "alertname" in self.labels:
            return [(join(path, "labels"), "give the alert's name as alertname, not a label")]
        return []
