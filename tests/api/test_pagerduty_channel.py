"""The ``pagerduty`` channel against the HTTPS PagerDuty fake: the events it sends, how each
answer maps to the channel protocol, pacing, and the v3 webhook signature."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from receiver.config import PagerDutyChannelConfig, from_data
from receiver.errors import InvalidInput
from receiver.notify.base import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    Notice,
    NoticeKind,
)
from receiver.notify.pagerduty import (
    PagerDutyChannel,
    dedup_key,
    earlier_fingerprints,
    later_fingerprint,
    parse_dedup_key,
)
from receiver.notify.pagerduty_webhook import parse_webhook, sign, verify_signature
from tests.api.test_channels import make_alert, make_notice
from tests.fakes.pagerduty import FakePagerDuty, Reply
from tests.ports import free_port

KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"
DB_KEY = "DBKEY0123456789ABCDEFGHIJKLMNOPQ"


@pytest.fixture
async def fake() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty(routing_keys=(KEY, DB_KEY)) as server:
        yield server


def settings(fake: FakePagerDuty, tmp_path: Path, **extra: Any) -> PagerDutyChannelConfig:
    data = {
        "routing_keys": {"default": KEY, "db": DB_KEY},
        "api_url": fake.base_url,
        "ca_file": fake.write_ca(tmp_path / "ca.pem"),
        "timeout": "2s",
        **extra,
    }
    return from_data(PagerDutyChannelConfig, data)


def notice(kind: NoticeKind = NoticeKind.FIRING, count: int = 1, **labels: str) -> Notice:
    base = make_notice(kind, count=count)
    alerts = tuple(replace(a, labels={**a.labels, **labels}) for a in base.alerts)
    return replace(base, alerts=alerts)


async def test_a_firing_notice_triggers_one_event_per_alert_with_the_documented_fields(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    channel = PagerDutyChannel("pd", settings(fake, tmp_path))
    first = notice(count=2, instance="web-1:9100", job="checkout-api")
    first = replace(
        first,
        alerts=(
            replace(
                first.alerts[0],
                annotations={**first.alerts[0].annotations, "dashboard_url": "https://grafana/d/x"},
            ),
            first.alerts[1],
        ),
    )
    delivery = await channel.send(first, "")
    assert delivery.reference is None  # two events, no single reference
    assert len(fake.requests) == 2 and len(fake.incidents) == 2
    event = fake.requests[0]
    alert = first.alerts[0]
    assert event["routing_key"] == KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == f"firebreak/2024-05-01T12:00:01Z/{alert.fingerprint}"
    assert event["client"] == "Firebreak"
    payload = event["payload"]
    assert payload["summary"] == "HighErrorRate: 5xx above 5% on pod 1"
    assert payload["source"] == "web-1:9100"
    assert payload["severity"] == "critical"
    assert payload["timestamp"] == "2024-05-01T12:00:01Z"
    assert payload["component"] == "checkout"  # the service label
    assert payload["group"] == "checkout-api"  # the job label
    assert payload["class"] == "HighErrorRate"
    details = payload["custom_details"]
    assert details["labels"] == dict(alert.labels)
    assert details["annotations"]["summary"] == "5xx above 5% on pod 1"
    assert details["escalation_policy"] == "checkout-oncall" and details["tier"] == 1
    assert event["links"] == [
        {"href": alert.generator_url, "text": "Prometheus"},
        {"href": "https://runbooks.example/high-error-rate", "text": "Runbook"},
        {"href": "https://grafana/d/x", "text": "Grafana"},
    ]
    # Sent again (a retry, another replica): PagerDuty keeps one incident per alert.
    await channel.send(first, "")
    assert len(fake.incidents) == 2
    assert [i.triggers for i in fake.incidents] == [2, 2]
    await channel.close()


async def test_severity_map_default_and_routing_key_alias(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    config = settings(
        fake,
        tmp_path,
        severity_map={"page": "critical", "ticket": "info"},
        default_severity="error",
        component_label=None,
        source_label="host",
    )
    channel = PagerDutyChannel("pd", config)
    await channel.send(notice(severity="ticket"), "db")
    await channel.send(notice(severity="critical", alertname="Other"), "db")
    ticket, unmapped = (r["payload"] for r in fake.requests)
    assert fake.requests[0]["routing_key"] == DB_KEY
    assert ticket["severity"] == "info"
    assert unmapped["severity"] == "error"  # "critical" is not in this map
    assert "component" not in ticket
    assert ticket["source"] == "prometheus.example"  # no host label: the generator URL's host
    with pytest.raises(ChannelRejected, match="no routing key named 'billing'"):
        await channel.send(notice(), "billing")
    await channel.close()


async def test_acknowledged_and_resolved_notices_use_the_same_key(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    channel = PagerDutyChannel("pd", settings(fake, tmp_path))
    delivery = await channel.send(notice(), "")
    key = fake.requests[0]["dedup_key"]
    assert delivery.reference == key
    await channel.send(notice(NoticeKind.ACKNOWLEDGED), "")
    assert fake.incident(key).status == "acknowledged"
    await channel.send(notice(NoticeKind.RESOLVED), "")
    assert fake.incident(key).status == "resolved"
    assert [r["event_action"] for r in fake.requests] == ["trigger", "acknowledge", "resolve"]
    assert {r["dedup_key"] for r in fake.requests} == {key}
    assert "payload" not in fake.requests[1]
    await channel.close()


async def test_a_digest_triggers_firing_alerts_and_resolves_resolved_ones(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    channel = PagerDutyChannel("pd", settings(fake, tmp_path))
    digest = notice(NoticeKind.DIGEST, count=2)
    resolved = replace(digest.alerts[1], status="resolved")
    digest = replace(digest, alerts=(digest.alerts[0], resolved))
    await channel.send(digest, "")
    assert [r["event_action"] for r in fake.requests] == ["trigger", "resolve"]
    await channel.close()


async def test_429_is_throttling_with_one_request_and_the_key_rests(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    channel = PagerDutyChannel("pd", settings(fake, tmp_path, throttle_wait="30s"))
    fake.script(429)
    started = time.monotonic()
    with pytest.raises(ChannelThrottled) as caught:
        await channel.send(notice(), "")
    assert time.monotonic() - started < 2.9  # the client did not sleep (3 s) and retry
    assert caught.value.retry_after == 30.0
    assert "arriving too quickly" in str(caught.value)
    assert len(fake.requests) == 1
    # The key rests: the next send is throttled without a request; another key is not.
    with pytest.raises(ChannelThrottled):
        await channel.send(notice(), "")
    assert len(fake.requests) == 1
    await channel.send(notice(), "db")
    assert len(fake.requests) == 2
    await channel.close()


async def test_429_with_retry_after(fake: FakePagerDuty, tmp_path: Path) -> None:
    channel = PagerDutyChannel("pd", settings(fake, tmp_path))
    fake.script(Reply(429, headers={"Retry-After": "7"}))
    with pytest.raises(ChannelThrottled) as caught:
        await channel.send(notice(), "")
    assert caught.value.retry_after == 7.0
    await channel.close()


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_5xx_is_a_retryable_failure_after_exactly_one_request(
    fake: FakePagerDuty, tmp_path: Path, status: int
) -> None:
    channel = PagerDutyChannel("pd", settings(fake, tmp_path))
    fake.script(status)
    started = time.monotonic()
    with pytest.raises(ChannelError) as caught:
        await channel.send(notice(), "")
    assert type(caught.value) is ChannelError
    assert f"HTTP {status}" in str(caught.value)
    assert len(fake.requests) == 1
    assert time.monotonic() - started < 2.9
    await channel.send(notice(), "")  # no rest after a 5xx
    assert len(fake.incidents) == 1
    await channel.close()


async def test_400_is_rejected_with_pagerdutys_message(fake: FakePagerDuty, tmp_path: Path) -> None:
    channel = PagerDutyChannel("pd", settings(fake, tmp_path))
    fake.script(400)
    with pytest.raises(ChannelRejected) as caught:
        await channel.send(notice(), "")
    assert "HTTP 400: invalid event: Event object is invalid" in str(caught.value)
    assert "'payload.summary' is missing or blank" in str(caught.value)
    assert len(fake.requests) == 1 and not fake.incidents
    await channel.close()


async def test_an_unknown_routing_key_is_rejected(fake: FakePagerDuty, tmp_path: Path) -> None:
    config = settings(fake, tmp_path)
    config = replace(config, routing_keys={"default": "NOSUCHKEY0123456789ABCDEFGHIJKLM"})
    channel = PagerDutyChannel("pd", config)
    with pytest.raises(ChannelRejected, match="Invalid routing key"):
        await channel.send(notice(), "")
    await channel.close()


async def test_connection_refused_and_untrusted_certificate_are_retryable(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    port = free_port()
    closed = settings(fake, tmp_path, api_url=f"https://127.0.0.1:{port}")
    channel = PagerDutyChannel("pd", closed)
    with pytest.raises(ChannelError, match="ConnectError"):
        await channel.send(notice(), "")
    await channel.close()
    untrusted = replace(settings(fake, tmp_path), ca_file=None)  # the system store lacks the CA
    channel = PagerDutyChannel("pd", untrusted)
    with pytest.raises(ChannelError) as caught:
        await channel.send(notice(), "")
    assert type(caught.value) is ChannelError
    assert not fake.requests
    await channel.close()


async def test_sends_are_paced_per_routing_key(fake: FakePagerDuty, tmp_path: Path) -> None:
    now = [0.0]
    channel = PagerDutyChannel(
        "pd", settings(fake, tmp_path, events_per_minute=6), monotonic=lambda: now[0]
    )
    await channel.send(notice(count=10), "")  # the burst
    with pytest.raises(ChannelThrottled) as caught:
        await channel.send(notice(count=2), "")
    assert caught.value.retry_after == pytest.approx(20.0)  # two events at 6 a minute
    assert len(fake.requests) == 10
    now[0] += 20
    await channel.send(notice(count=2), "")
    assert len(fake.requests) == 12
    await channel.send(notice(), "db")  # its own pace
    await channel.close()


async def test_a_notice_larger_than_the_pace_goes_on_where_it_stopped(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    now = [0.0]
    channel = PagerDutyChannel(
        "pd", settings(fake, tmp_path, events_per_minute=6), monotonic=lambda: now[0]
    )
    storm = notice(count=13)
    with pytest.raises(ChannelThrottled):  # paced after the first 10 events
        await channel.send(storm, "")
    now[0] += 30
    fake.script(None, 503)  # the 11th is accepted, the 12th fails
    with pytest.raises(ChannelError) as caught:
        await channel.send(storm, "")
    assert type(caught.value) is ChannelError
    now[0] += 30
    await channel.send(storm, "")
    keys = [r["dedup_key"] for r in fake.requests]
    assert len(keys) == 14 and len(set(keys)) == 13  # only the failed one went twice
    assert len(fake.incidents) == 13
    await channel.close()


def test_dedup_key_round_trips_and_stays_within_255_characters() -> None:
    alert = make_alert(3)
    key = dedup_key(alert)
    assert parse_dedup_key(key) == (alert.fingerprint, alert.starts_at)
    odd = replace(
        alert, fingerprint="a/b:c", starts_at=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    )
    assert parse_dedup_key(dedup_key(odd)) == ("a/b:c", odd.starts_at)
    long = replace(alert, fingerprint="f" * 300)
    assert len(dedup_key(long)) <= 255 and dedup_key(long) == dedup_key(long)
    assert parse_dedup_key(dedup_key(long)) is None
    for foreign in ("", "d3640fbd41094207a1c11e58e46b1662", "firebreak/not-a-time/fp"):
        assert parse_dedup_key(foreign) is None


def test_webhook_signature_accepts_any_current_secret_and_nothing_else() -> None:
    body = b'{"event": {"event_type": "incident.acknowledged"}}'
    two = f"{sign('new', body)},{sign('old', body)}"
    assert verify_signature(["old"], body, two)
    assert verify_signature(["new", "other"], body, sign("new", body))
    assert not verify_signature(["old"], body + b" ", two)  # the body was changed
    assert not verify_signature(["third"], body, two)
    assert not verify_signature([], body, two)
    assert not verify_signature(["old"], body, None)
    assert not verify_signature(["old"], body, sign("old", body).replace("v1=", "v0="))


def test_parse_webhook_reads_the_event_and_what_it_says_about_an_incident() -> None:
    incident = {"id": "Q1", "type": "incident", "incident_key": "k", "number": 4, "html_url": "u"}
    body = (
        b'{"event": {"id": "01E", "occurred_at": "2026-12-05T10:00:00.123Z", '
        b'"event_type": "incident.resolved", "agent": null, "data": %s}}'
    )
    event = parse_webhook(body % json.dumps(incident).encode())
    assert (event.event_id, event.occurred_at) == (
        "01E",
        datetime(2026, 12, 5, 10, 0, 0, 123000, UTC),
    )
    assert event.incident is not None
    assert (event.incident.event_type, event.incident.incident_key) == ("incident.resolved", "k")
    assert event.incident.incident_number == 4
    assert event.incident.agent == "pagerduty"
    service = (
        b'{"event": {"id": "01F", "occurred_at": "2026-12-05T10:00:00Z", '
        b'"event_type": "service.updated", "data": {"type": "service"}}}'
    )
    assert parse_webhook(service).incident is None


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ('{"occurred_at": "2026-12-05T10:00:00Z", "event_type": "incident.resolved"}', "event.id"),
        ('{"id": "", "occurred_at": "2026-12-05T10:00:00Z"}', "event.id"),
        ('{"id": 7, "occurred_at": "2026-12-05T10:00:00Z"}', "event.id"),
        ('{"id": "%s", "occurred_at": "2026-12-05T10:00:00Z"}' % ("e" * 257), "event.id"),
        ('{"id": "01E", "event_type": "incident.resolved"}', "event.occurred_at"),
        ('{"id": "01E", "occurred_at": "yesterday"}', "event.occurred_at"),
        ('{"id": "01E", "occurred_at": "2026-12-05T10:00:00"}', "event.occurred_at"),
        ('{"id": "01E", "occurred_at": ["2026-12-05T10:00:00Z"]}', "event.occurred_at"),
    ],
)
def test_an_event_without_its_id_or_time_is_refused_naming_the_field(
    event: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_webhook(b'{"event": %s}' % event.encode())
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("now", "before"),
    [
        ("grafana:c6eadffa33fcdf37", "c6eadffa33fcdf37"),  # migration 0017
        ("firebreak:0123456789abcd", "fb0123456789abcd"),  # migration 0018
    ],
)
def test_the_fingerprints_migrations_rewrote_map_both_ways(now: str, before: str) -> None:
    assert earlier_fingerprints(now) == (before,)
    assert later_fingerprint(before) == now


def test_other_fingerprints_had_no_earlier_shape() -> None:
    for fingerprint in ("c6eadffa33fcdf37", "manual-1f2e", "firebreak:short", "grafana:"):
        assert earlier_fingerprints(fingerprint) == ()
    for fingerprint in ("manual-1f2e", "grafana:c6eadffa33fcdf37", "firebreak:0123456789abcd"):
        assert later_fingerprint(fingerprint) is None


def _fingerprinted(notice_: Notice, *fingerprints: str) -> Notice:
    alerts = tuple(
        replace(a, fingerprint=f) for a, f in zip(notice_.alerts, fingerprints, strict=True)
    )
    return replace(notice_, alerts=alerts)


async def test_an_occurrence_keeps_the_key_recorded_for_it_and_each_alert_gets_its_own(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    """A page of two alerts gives each alert its key to record. A later tier's trigger of an
    occurrence recorded under the key before migration 0017 goes to that incident, not a new
    one."""
    channel = PagerDutyChannel("pd", settings(fake, tmp_path))
    grafana = _fingerprinted(notice(count=2), "grafana:c6eadffa33fcdf37", "fp0002")
    first, second = grafana.alerts
    old_key = dedup_key(first, "c6eadffa33fcdf37")
    delivery = await channel.send(replace(grafana, references=(old_key,)), "")
    assert delivery.reference is None
    assert dict(delivery.alert_references) == {first.id: old_key, second.id: dedup_key(second)}
    assert [r["dedup_key"] for r in fake.requests] == [old_key, dedup_key(second)]
    # Resolved with the recorded keys: both incidents close, one event each.
    resolved = replace(grafana, kind=NoticeKind.RESOLVED, references=(old_key, dedup_key(second)))
    await channel.send(resolved, "")
    assert [(r["event_action"], r["dedup_key"]) for r in fake.requests[2:]] == [
        ("resolve", old_key),
        ("resolve", dedup_key(second)),
    ]
    assert fake.open_incidents() == []
    await channel.close()


async def test_without_a_recorded_key_a_rewritten_fingerprint_is_followed_up_under_both(
    fake: FakePagerDuty, tmp_path: Path
) -> None:
    """Paged in a group before the upgrade (no key recorded): the acknowledge goes to the key
    of the fingerprint now and the one before; neither is recorded, being a guess. An alert
    whose fingerprint no migration changed gets one event, and its key recorded."""
    channel = PagerDutyChannel("pd", settings(fake, tmp_path))
    heartbeat = _fingerprinted(
        notice(NoticeKind.ACKNOWLEDGED, count=2), "firebreak:0123456789abcd", "fp0002"
    )
    first, second = heartbeat.alerts
    delivery = await channel.send(heartbeat, "")
    assert [(r["event_action"], r["dedup_key"]) for r in fake.requests] == [
        ("acknowledge", dedup_key(first)),
        ("acknowledge", dedup_key(first, "fb0123456789abcd")),
        ("acknowledge", dedup_key(second)),
    ]
    assert dict(delivery.alert_references) == {second.id: dedup_key(second)}
    await channel.close()
