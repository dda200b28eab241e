"""A real Alertmanager 0.25+ notifying a real ``firebreak serve`` with the shipped config.

Alerts go in through Alertmanager's v2 API; what Firebreak stored is read through its API and
straight from its SQLite file.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from receiver.alertmanager import parse_rfc3339
from tests.e2e.conftest import (
    GROUP_INTERVAL,
    REPEAT_INTERVAL,
    SHIPPED_ALERTMANAGER_CONFIG,
    Alertmanager,
    FirebreakServer,
    amtool_check_config,
    wait_until,
)

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT = 20.0  # group_wait plus a couple of group_intervals, with room to spare


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_alerts(starts_at: datetime, ends_at: datetime) -> list[dict[str, Any]]:
    """Three alerts in one group (same alertname and service) and one in another group."""
    grouped = [
        {
            "alertname": "HighErrorRate",
            "service": "checkout",
            "severity": "critical",
            "instance": f"checkout-{i}",
        }
        for i in range(3)
    ]
    other = {
        "alertname": "QueueBacklog",
        "service": "billing",
        "severity": "warning",
        "instance": "billing-0",
    }
    return [
        {
            "labels": labels,
            "annotations": {"summary": f"{labels['alertname']} on {labels['instance']}"},
            "startsAt": rfc3339(starts_at),
            "endsAt": rfc3339(ends_at),
            "generatorURL": "http://prometheus.test:9090/graph?g0.expr=up",
        }
        for labels in [*grouped, other]
    ]


def by_instance(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["labels"]["instance"]: a for a in alerts}


def events_by_fingerprint(server: FirebreakServer) -> dict[str, Counter[str]]:
    rows = server.query(
        "SELECT a.fingerprint, e.kind FROM alert_events e JOIN alerts a ON a.id = e.alert_id"
    )
    found: dict[str, Counter[str]] = {}
    for fingerprint, kind in rows:
        found.setdefault(fingerprint, Counter())[kind] += 1
    return found


def notifications_by_fingerprint(server: FirebreakServer) -> dict[str, Counter[str]]:
    rows = server.query(
        "SELECT a.fingerprint, n.kind FROM notifications n JOIN alerts a ON a.id = n.alert_id"
    )
    found: dict[str, Counter[str]] = {}
    for fingerprint, kind in rows:
        found.setdefault(fingerprint, Counter())[kind] += 1
    return found


def fire(am: Alertmanager, server: FirebreakServer) -> tuple[datetime, list[dict[str, Any]]]:
    """Post the four alerts as firing and wait until Firebreak has stored all of them."""
    starts_at = datetime.now(UTC)
    am.post_alerts(make_alerts(starts_at, starts_at + timedelta(hours=1)))

    def all_stored() -> list[dict[str, Any]] | None:
        found = server.alerts()
        return found if len(found) >= 4 else None

    stored = wait_until(
        all_stored,
        timeout=DELIVERY_TIMEOUT,
        what="Firebreak storing the 4 alerts Alertmanager notified",
        procs=(am.proc, server.proc),
    )
    return starts_at, stored


def test_shipped_config_passes_amtool(amtool_bin: str) -> None:
    """The file users deploy is valid; its credentials_file need not exist to be checked."""
    result = amtool_check_config(amtool_bin, SHIPPED_ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_grouped_alerts_are_stored_once_across_resends(
    alertmanager: Alertmanager, firebreak_server: FirebreakServer
) -> None:
    server = firebreak_server
    starts_at, stored = fire(alertmanager, server)

    assert len(stored) == 4
    posted = by_instance(make_alerts(starts_at, starts_at))
    for instance, got in by_instance(stored).items():
        assert got["labels"] == posted[instance]["labels"]
        assert got["annotations"] == posted[instance]["annotations"]
        assert got["status"] == "firing"
        assert got["ends_at"] is None
        assert parse_rfc3339(got["starts_at"]) == starts_at
    # Alertmanager grouped by alertname and service: one group key for the three checkout
    # alerts, another for the billing one.
    keys = {i: a["group_key"] for i, a in by_instance(stored).items()}
    assert keys["checkout-0"] == keys["checkout-1"] == keys["checkout-2"] != keys["billing-0"]

    # Firebreak stored Alertmanager's own fingerprints.
    am_alerts = alertmanager.alerts()
    assert {a["labels"]["instance"]: a["fingerprint"] for a in am_alerts} == {
        i: a["fingerprint"] for i, a in by_instance(stored).items()
    }

    # Wait for Alertmanager to re-send both groups (repeat_interval) at least once.
    # (The counter moves just after the answer, so wait for the first two to be counted.)
    ok = 'code="200"'
    accepted = wait_until(
        lambda: (n := server.metric("firebreak_webhook_requests_total", ok)) >= 2 and n,
        timeout=5,
        what="Firebreak counting the first two webhooks",
    )
    hooks_before = server.query("SELECT count(*) FROM webhooks")[0][0]
    assert hooks_before >= 2
    wait_until(
        lambda: server.metric("firebreak_webhook_requests_total", ok) >= accepted + 2,
        timeout=REPEAT_INTERVAL + 3 * GROUP_INTERVAL,
        what="Alertmanager re-sending both groups",
        procs=(alertmanager.proc, server.proc),
    )
    assert server.query("SELECT count(*) FROM webhooks")[0][0] >= hooks_before + 2

    # Each alert is still one occurrence with one "fired" event, escalated (the default
    # policy: the log channel) and notified exactly once however often the group came.
    counts = dict(server.query("SELECT fingerprint, count(*) FROM alerts GROUP BY fingerprint"))
    fingerprints = {a["fingerprint"] for a in stored}
    assert counts == dict.fromkeys(fingerprints, 1)
    expected = Counter(fired=1, escalated=1)
    assert events_by_fingerprint(server) == dict.fromkeys(fingerprints, expected)
    assert notifications_by_fingerprint(server) == {key: Counter(firing=1) for key in fingerprints}
    assert len(server.alerts()) == 4


def test_resolved_alerts_are_recorded_once(
    alertmanager: Alertmanager, firebreak_server: FirebreakServer
) -> None:
    server = firebreak_server
    starts_at, stored = fire(alertmanager, server)
    fingerprints = {a["fingerprint"] for a in stored}

    # The same alerts with endsAt now: Alertmanager resolves them and, with send_resolved,
    # notifies Firebreak at the next group_interval.
    ends_at = datetime.now(UTC)
    alertmanager.post_alerts(make_alerts(starts_at, ends_at))

    def all_resolved() -> list[dict[str, Any]] | None:
        found = server.alerts()
        if len(found) == 4 and all(a["status"] == "resolved" for a in found):
            return found
        return None

    resolved = wait_until(
        all_resolved,
        timeout=DELIVERY_TIMEOUT,
        what="Firebreak recording the 4 alerts as resolved",
        procs=(alertmanager.proc, server.proc),
    )
    for got in resolved:
        assert got["ends_at"] is not None
        assert parse_rfc3339(got["ends_at"]) == ends_at
        assert parse_rfc3339(got["starts_at"]) == starts_at
    assert {a["fingerprint"] for a in resolved} == fingerprints

    # Give Alertmanager another group_interval to send anything more; nothing is duplicated.
    time.sleep(GROUP_INTERVAL + 1)
    counts = dict(server.query("SELECT fingerprint, count(*) FROM alerts GROUP BY fingerprint"))
    assert counts == dict.fromkeys(fingerprints, 1)
    expected = Counter(fired=1, resolved=1, escalated=1)
    assert events_by_fingerprint(server) == dict.fromkeys(fingerprints, expected)
    # Notified twice, to the same channel: that it fired, then that it resolved.
    both = Counter(firing=1, resolved=1)
    assert notifications_by_fingerprint(server) == dict.fromkeys(fingerprints, both)
