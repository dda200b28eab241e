"""The heartbeats section: names fit a URL path and a label, the alert's labels are label names
and leave ``heartbeat`` to Firebreak, and the token never shows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.config.common import SECRET, parse, problems


def test_a_heartbeat_with_its_defaults() -> None:
    config = parse(f"""
        heartbeats:
          nightly-backup: {{token: "{SECRET}", interval: 1d}}
        """)
    beat = config.heartbeats["nightly-backup"]
    assert beat.interval == timedelta(days=1) and beat.grace == timedelta(minutes=5)
    assert beat.alertname == "HeartbeatMissing" and dict(beat.labels) == {}
    assert beat.overdue_after == timedelta(days=1, minutes=5)
    assert SECRET not in repr(config)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Backup", "'Backup'"),
        ("../etc", "'../etc'"),
        ("a b", "'a b'"),
        ("<script>", "'<script>'"),
        ("x" * 65, "'a name'"),
    ],
)
def test_a_name_that_does_not_fit_a_url_path_is_refused(name: str, shown: str) -> None:
    found = problems(f"""
        heartbeats:
          {name!r}: {{token: "{SECRET}", interval: 1h}}
        """)
    assert len(found) == 1
    assert f"heartbeats: heartbeat {shown}: expected lower-case letters" in found[0]


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ("{heartbeat: x}", "label 'heartbeat': set by Firebreak to the heartbeat's name"),
        ("{'a-b': x}", "label 'a-b': expected a Prometheus label name such as team"),
        ("{__name__: x}", "label '__name__': expected a Prometheus label name such as team"),
        ("{alertname: X}", "give the alert's name as alertname, not a label"),
    ],
)
def test_labels_are_label_names_and_leave_heartbeat_and_alertname_alone(
    labels: str, problem: str
) -> None:
    found = problems(f"""
        heartbeats:
          backup: {{token: "{SECRET}", interval: 1h, labels: {labels}}}
        """)
    assert len(found) == 1 and found[0].endswith(f"heartbeats.backup.labels: {problem}")


def test_wrong_values_name_their_key_and_never_show_the_token() -> None:
    found = problems(f"""
        heartbeats:
          backup: {{token: "{SECRET}", interval: 0s, grace: soon, surprise: 1}}
          nightly: {{interval: 1h}}
          weekly: {{token: ["{SECRET}"], interval: 7d}}
        """)
    text = "\n".join(found)
    assert "heartbeats.backup.interval: must be longer than 0s" in text
    assert "heartbeats.backup.grace:" in text
    assert "heartbeats.backup.surprise: unknown key" in text
    assert "heartbeats.nightly.token: required" in text or "heartbeats.nightly: " in text
    assert "heartbeats.weekly.token:" in text
    assert SECRET not in text


def test_a_heartbeat_needs_a_token_or_an_alert_and_may_not_beat_with_its_own_alert() -> None:
    found = problems("""
        heartbeats:
          silent: {interval: 1h}
          loop: {alert: HeartbeatMissing, interval: 1h}
        """)
    assert [p.split(": ", 1)[1] for p in found] == [
        "heartbeats.silent: give a token (beats by request), an alert, or both",
        "heartbeats.loop.alert: the alert that beats cannot be the one raised",
    ]


def test_the_watchdog_section_is_the_heartbeat_watchdog() -> None:
    config = parse(f"""
        watchdog: {{timeout: 10m, check_interval: 15s, labels: {{team: sre}}}}
        heartbeats:
          backup: {{token: "{SECRET}", interval: 1d}}
        """)
    assert sorted(config.every_heartbeat) == ["backup", "watchdog"]
    watchdog = config.every_heartbeat["watchdog"]
    assert watchdog.alert == "Watchdog" and watchdog.token is None
    assert watchdog.overdue_after == timedelta(minutes=10)
    assert watchdog.check_interval == timedelta(seconds=15)
    assert watchdog.alertname == "MonitoringPipelineBroken"
    assert dict(watchdog.labels) == {"severity": "critical", "team": "sre"}
    assert parse("heartbeats: {}").every_heartbeat == {}


def test_the_watchdog_section_and_a_heartbeat_named_watchdog_clash() -> None:
    found = problems(f"""
        watchdog: {{timeout: 10m}}
        heartbeats:
          watchdog: {{token: "{SECRET}", interval: 1d}}
        """)
    assert len(found) == 1
    assert found[0].endswith(
        "heartbeats.watchdog: the watchdog section is this heartbeat already; keep one of them"
    )
