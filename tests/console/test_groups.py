"""Alerts gathered by Alertmanager group, as the alerts page shows them (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

from receiver.console.triage import common_labels, flat, group_alerts
from receiver.model import Alert, AlertStatus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _alert(alert_id: int, group: str, **labels: str) -> Alert:
    return Alert(
        id=alert_id,
        fingerprint=f"f{alert_id}",
        status=AlertStatus.FIRING,
        labels=labels,
        annotations={},
        starts_at=NOW,
        ends_at=None,
        first_seen_at=NOW,
        last_seen_at=NOW,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_by=None,
        generator_url="",
        group_key=group,
    )


def test_groups_keep_the_page_order_and_share_only_equal_labels() -> None:
    alerts = [
        _alert(1, "a", alertname="Disk", instance="db-1", team="x"),
        _alert(2, "b", alertname="Cpu"),
        _alert(3, "a", alertname="Disk", instance="db-2", team="x"),
        _alert(4, "a", alertname="Disk", instance="db-3"),
    ]
    first, second = group_alerts(alerts)
    assert (first.key, [a.id for a in first.alerts]) == ("a", [1, 3, 4])
    assert (second.key, [a.id for a in second.alerts]) == ("b", [2])
    assert first.common == {"alertname": "Disk"}  # team is missing on one: not shared
    assert first.own_labels(alerts[0]) == {"instance": "db-1", "team": "x"}
    assert second.common == {"alertname": "Cpu"} and second.own_labels(alerts[1]) == {}
    assert first.title == "Disk"


def test_a_group_of_several_alert_names_is_titled_by_the_first_three() -> None:
    alerts = [_alert(n, "g", alertname=name) for n, name in enumerate("ABCBDE")]
    alerts.append(_alert(9, "g"))
    (group,) = group_alerts(alerts)
    assert group.title == "A, B, C +3 more"  # D, E and one without a name
    assert common_labels([]) == {}
    assert flat([]) == [] and flat(alerts)[0].common == {}
