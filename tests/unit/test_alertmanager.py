"""Parsing Alertmanager's webhook payload (version 4) and RFC 3339 timestamps."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.alertmanager import (
    format_rfc3339,
    notification_to_payload,
    parse_rfc3339,
    parse_webhook,
    parse_webhook_body,
)
from receiver.errors import InvalidInput
from receiver.model import AlertSnapshot, AlertStatus, Notification
from tests.conftest import examples

PAYLOADS = Path(__file__).parent / "payloads"
GO_ZERO = "0001-01-01T00:00:00Z"
FIRING = AlertStatus.FIRING
RESOLVED = AlertStatus.RESOLVED


def utc(
    year: int,
    month: int = 1,
    day: int = 1,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    us: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def captured(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def valid_payload(alert_count: int = 1) -> dict[str, Any]:
    """A small payload ``parse_webhook`` accepts, to break one field at a time."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "TargetDown", "instance": f"node-{i}:9100", "severity": "page"},
            "annotations": {"summary": f"node-{i} is down"},
            "startsAt": "2024-05-14T06:30:15.902Z",
            "endsAt": "2024-05-14T06:38:15.902Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            "fingerprint": f"{i:016x}",
        }
        for i in range(alert_count)
    ]
    return {
        "receiver": "firebreak",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": "TargetDown"},
        "commonLabels": {"alertname": "TargetDown", "severity": "page"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="TargetDown"}',
        "truncatedAlerts": 0,
    }


def invalid(payload: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_webhook(payload)
    return caught.value


def invalid_body(body: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_webhook_body(body)
    return caught.value


# --- captured payloads ------------------------------------------------------------------------


def test_firing_group_of_three() -> None:
    n = parse_webhook_body(captured("firing_group.json"))

    assert n.version == "4"
    assert n.group_key == '{}/{severity="critical"}:{alertname="HighRequestLatency"}'
    assert n.truncated_alerts == 0
    assert n.status is FIRING
    assert n.receiver == "firebreak"
    assert n.group_labels == {"alertname": "HighRequestLatency"}
    assert n.common_labels == {
        "alertname": "HighRequestLatency",
        "cluster": "eu-west-1",
        "job": "api",
        "severity": "critical",
    }
    assert n.common_annotations == {
        "runbook_url": "https://runbooks.example.com/HighRequestLatency"
    }
    assert n.external_url == "http://alertmanager-0:9093"
    assert n.extra == {}
    assert [a.fingerprint for a in n.alerts] == [
        "3b1c0a6f9e2d4c58",
        "8d2f55e017b4a9c3",
        "f0e41b7c2a9d6035",
    ]

    first, second, third = n.alerts
    assert first == AlertSnapshot(
        status=FIRING,
        labels={
            "alertname": "HighRequestLatency",
            "cluster": "eu-west-1",
            "instance": "api-1:8080",
            "job": "api",
            "severity": "critical",
        },
        annotations={
            "runbook_url": "https://runbooks.example.com/HighRequestLatency",
            "summary": "p99 latency above 2s on api-1:8080",
        },
        starts_at=utc(2024, 5, 14, 9, 12, 43, 217000),
        # Prometheus's provisional endsAt (8 minutes ahead) is not an end: the alert still fires.
        ends_at=None,
        generator_url=(
            "http://prometheus-0:9090/graph?g0.expr=histogram_quantile%280.99%2C+rate%28"
            "http_request_duration_seconds_bucket%5B5m%5D%29%29+%3E+2&g0.tab=1"
        ),
        fingerprint="3b1c0a6f9e2d4c58",
        extra={},
    )
    # Nanoseconds are truncated to microseconds.
    assert second.starts_at == utc(2024, 5, 14, 9, 12, 58, 217693)
    assert second.ends_at is None
    assert second.labels["instance"] == "api-2:8080"
    # An offset is converted: the result is always in UTC.
    assert third.starts_at == utc(2024, 5, 14, 9, 13, 13)
    assert third.starts_at.tzinfo is UTC
    assert third.ends_at is None
    assert third.generator_url == ""


def test_resolved_group() -> None:
    n = parse_webhook_body(captured("resolved_group.json"))

    assert n.status is RESOLVED
    assert n.group_key == '{}:{alertname="DiskWillFillIn4Hours", job="node"}'
    assert n.group_labels == {"alertname": "DiskWillFillIn4Hours", "job": "node"}
    assert n.common_annotations == {"summary": "Disk filling up"}
    assert [a.status for a in n.alerts] == [RESOLVED, RESOLVED]
    assert [(a.starts_at, a.ends_at) for a in n.alerts] == [
        (utc(2024, 5, 13, 22, 1, 7, 500000), utc(2024, 5, 14, 1, 46, 22, 40000)),
        (utc(2024, 5, 13, 22, 3, 37, 500000), utc(2024, 5, 14, 1, 47, 7, 40000)),
    ]
    assert n.alerts[1].labels == {
        "alertname": "DiskWillFillIn4Hours",
        "device": "/dev/nvme1n1",
        "instance": "db-2:9100",
        "job": "node",
        "mountpoint": "/var/lib/postgresql",
        "severity": "warning",
    }
    assert n.alerts[1].fingerprint == "07ab3e5d9f6c1428"


def test_truncated_group_reports_the_dropped_alerts() -> None:
    n = parse_webhook_body(captured("truncated_group.json"))

    assert n.truncated_alerts == 2
    assert n.receiver == "firebreak-limited"
    assert len(n.alerts) == 1
    assert n.alerts[0].labels["instance"] == "worker-7:9100"
    assert n.alerts[0].starts_at == utc(2024, 5, 14, 6, 30, 15, 902000)


def test_fields_from_a_newer_alertmanager_are_kept_at_both_levels() -> None:
    n = parse_webhook_body(captured("future_fields.json"))

    assert n.extra == {
        "notificationReason": "repeat_interval",
        "groupID": "a1b2c3",
        "clusterPeers": ["alertmanager-0", "alertmanager-1", None],
    }
    (alert,) = n.alerts
    assert alert.extra == {
        "silenceURL": (
            "http://alertmanager-0:9093/#/silences/new?filter=%7Balertname%3D%22Watchdog%22%7D"
        ),
        "values": {"A": 1, "B": 0.5},
        "inhibited": False,
    }
    assert alert.fingerprint == "e7f2b90c41d3a856"
    assert alert.starts_at == utc(2024, 5, 14)

    payload = notification_to_payload(n)
    assert payload["notificationReason"] == "repeat_interval"
    assert payload["alerts"][0]["values"] == {"A": 1, "B": 0.5}  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(p.name for p in PAYLOADS.glob("*.json")))
def test_captured_payloads_round_trip(name: str) -> None:
    n = parse_webhook_body(captured(name))
    assert parse_webhook(notification_to_payload(n)) == n
    assert parse_webhook_body(json.dumps(notification_to_payload(n)).encode()) == n


def test_payload_comes_back_as_alertmanager_sent_it_apart_from_timestamp_spelling() -> None:
    original = json.loads(captured("resolved_group.json"))
    payload = notification_to_payload(parse_webhook(copy.deepcopy(original)))

    assert list(payload) == list(original)  # Alertmanager's own field order
    for alert in original["alerts"]:
        alert["startsAt"] = format_rfc3339(parse_rfc3339(alert["startsAt"]))
        alert["endsAt"] = format_rfc3339(parse_rfc3339(alert["endsAt"]))
    assert payload == original


def test_firing_alert_goes_out_with_go_zero_time_as_end() -> None:
    payload = notification_to_payload(parse_webhook_body(captured("firing_group.json")))
    assert [a["endsAt"] for a in payload["alerts"]] == [GO_ZERO] * 3  # type: ignore[attr-defined]
    assert payload["alerts"][1]["startsAt"] == "2024-05-14T09:12:58.217693Z"  # type: ignore[index]


def test_truncated_alerts_defaults_to_zero_and_alerts_may_be_empty() -> None:
    payload = valid_payload(0)
    del payload["truncatedAlerts"]
    n = parse_webhook(payload)
    assert n.truncated_alerts == 0
    assert n.alerts == ()
    assert n.extra == {}


def test_resolved_alert_with_go_zero_end_has_no_end() -> None:
    payload = valid_payload()
    payload["alerts"][0].update(status="resolved", endsAt=GO_ZERO)
    assert parse_webhook(payload).alerts[0].ends_at is None


def test_result_shares_nothing_with_the_payload() -> None:
    payload = json.loads(captured("future_fields.json"))
    n = parse_webhook(payload)
    before = copy.deepcopy(n)

    payload["commonLabels"]["severity"] = "changed"
    payload["clusterPeers"].append("x")
    payload["alerts"][0]["labels"]["severity"] = "changed"
    payload["alerts"][0]["values"]["A"] = 2

    assert n == before


def test_known_fields_win_over_extras_when_writing_a_payload() -> None:
    n = parse_webhook(valid_payload())
    clash = Notification(
        version=n.version,
        group_key=n.group_key,
        truncated_alerts=n.truncated_alerts,
        status=n.status,
        receiver=n.receiver,
        group_labels=n.group_labels,
        common_labels=n.common_labels,
        common_annotations=n.common_annotations,
        external_url=n.external_url,
        alerts=n.alerts,
        extra={"receiver": "impostor", "new": 1},
    )
    payload = notification_to_payload(clash)
    assert payload["receiver"] == "firebreak"
    assert payload["new"] == 1


# --- one test per kind of error ---------------------------------------------------------------


def test_body_that_is_not_json() -> None:
    error = invalid_body(b'{"version": "4",\n  "groupKey": }')
    assert error.field == "body"
    assert error.message.startswith("invalid JSON: Expecting value")
    assert "line 2 column 15" in error.message


def test_body_that_is_not_utf8() -> None:
    error = invalid_body(b'{"version": "4",\n "receiver": "caf\xe9"}')
    assert error.field == "body"
    assert error.message == "invalid JSON: not UTF-8 (byte 0xe9): line 2 column 18 (byte 34)"


def test_body_with_a_lone_surrogate_encoded_in_utf8_is_refused() -> None:
    # json.loads(bytes) would let this through with "surrogatepass".
    assert invalid_body(b'{"a": "\xed\xa0\x80"}').field == "body"


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_body_with_non_json_numbers(constant: bytes) -> None:
    error = invalid_body(b'{"x": ' + constant + b"}")
    assert error.field == "body"
    assert "is not a JSON value" in error.message


def test_body_nested_too_deeply() -> None:
    error = invalid_body(b"[" * 100_000 + b"]" * 100_000)
    assert (error.field, error.message) == ("body", "invalid JSON: nested too deeply")


def test_body_that_is_not_an_object() -> None:
    error = invalid_body(b"[]")
    assert (error.field, error.message) == ("body", "expected a JSON object, got an array")
    assert invalid(None).message == "expected a JSON object, got null"


def test_unsupported_version() -> None:
    payload = valid_payload()
    payload["version"] = "3"
    error = invalid(payload)
    assert (error.field, error.message) == (
        "version",
        'unsupported payload version "3"; expected "4"',
    )


def test_version_of_the_wrong_type() -> None:
    payload = valid_payload()
    payload["version"] = 4
    error = invalid(payload)
    assert (error.field, error.message) == ("version", "expected a string, got a number")


def test_missing_top_level_field() -> None:
    payload = valid_payload()
    del payload["groupKey"]
    error = invalid(payload)
    assert (error.field, error.message) == ("groupKey", "required field is missing")


def test_missing_alert_field() -> None:
    payload = valid_payload(3)
    del payload["alerts"][1]["fingerprint"]
    error = invalid(payload)
    assert (error.field, error.message) == ("alerts[1].fingerprint", "required field is missing")


def test_unknown_alert_status() -> None:
    payload = valid_payload(3)
    payload["alerts"][2]["status"] = "pending"
    error = invalid(payload)
    assert error.field == "alerts[2].status"
    assert error.message == 'expected "firing" or "resolved", got "pending"'


def test_unknown_group_status() -> None:
    payload = valid_payload()
    payload["status"] = None
    error = invalid(payload)
    assert (error.field, error.message) == ("status", 'expected "firing" or "resolved", got null')


def test_label_value_that_is_not_a_string() -> None:
    payload = valid_payload()
    payload["alerts"][0]["labels"]["severity"] = 3
    error = invalid(payload)
    assert (error.field, error.message) == (
        "alerts[0].labels.severity",
        "expected a string, got a number",
    )


def test_label_name_that_is_not_an_identifier_is_quoted_in_the_path() -> None:
    payload = valid_payload()
    payload["alerts"][0]["labels"]["app.kubernetes.io/name"] = ["api"]
    error = invalid(payload)
    assert error.field == 'alerts[0].labels["app.kubernetes.io/name"]'
    assert error.message == "expected a string, got an array"


def test_annotation_value_that_is_null() -> None:
    payload = valid_payload()
    payload["alerts"][0]["annotations"]["summary"] = None
    error = invalid(payload)
    assert (error.field, error.message) == (
        "alerts[0].annotations.summary",
        "expected a string, got null",
    )


def test_group_label_value_that_is_not_a_string() -> None:
    payload = valid_payload()
    payload["groupLabels"]["alertname"] = True
    error = invalid(payload)
    assert (error.field, error.message) == (
        "groupLabels.alertname",
        "expected a string, got a boolean",
    )


def test_labels_that_are_not_an_object() -> None:
    payload = valid_payload()
    payload["alerts"][0]["labels"] = ["alertname=TargetDown"]
    error = invalid(payload)
    assert (error.field, error.message) == ("alerts[0].labels", "expected an object, got an array")


def test_alert_without_labels() -> None:
    payload = valid_payload()
    payload["alerts"][0]["labels"] = {}
    error = invalid(payload)
    assert error.field == "alerts[0].labels"
    assert error.message == "expected at least one label, got an empty object"


def test_alerts_that_are_not_an_array() -> None:
    payload = valid_payload()
    payload["alerts"] = {"0": payload["alerts"][0]}
    error = invalid(payload)
    assert (error.field, error.message) == ("alerts", "expected an array, got an object")


def test_alert_that_is_not_an_object() -> None:
    payload = valid_payload(2)
    payload["alerts"][1] = "TargetDown"
    error = invalid(payload)
    assert (error.field, error.message) == ("alerts[1]", "expected an object, got a string")


def test_timestamp_that_is_not_rfc3339() -> None:
    payload = valid_payload(4)
    payload["alerts"][3]["startsAt"] = "yesterday"
    error = invalid(payload)
    assert error.field == "alerts[3].startsAt"
    assert error.message == 'expected an RFC 3339 timestamp, got "yesterday"'


def test_timestamp_that_is_not_a_string() -> None:
    payload = valid_payload()
    payload["alerts"][0]["endsAt"] = 1715668695
    error = invalid(payload)
    assert error.field == "alerts[0].endsAt"
    assert error.message == "expected an RFC 3339 timestamp, got 1715668695"


def test_timestamp_without_offset() -> None:
    payload = valid_payload()
    payload["alerts"][0]["endsAt"] = "2024-05-14T06:38:15"
    error = invalid(payload)
    assert error.field == "alerts[0].endsAt"
    assert error.message == (
        'expected an RFC 3339 timestamp, got "2024-05-14T06:38:15"'
        " (missing UTC offset: Z or ±HH:MM)"
    )


def test_timestamp_out_of_range() -> None:
    payload = valid_payload()
    payload["alerts"][0]["startsAt"] = "2024-13-01T00:00:00Z"
    error = invalid(payload)
    assert error.field == "alerts[0].startsAt"
    assert error.message.startswith('expected an RFC 3339 timestamp, got "2024-13-01T00:00:00Z" (')
    assert "month" in error.message


def test_start_at_go_zero_time() -> None:
    payload = valid_payload()
    payload["alerts"][0]["startsAt"] = GO_ZERO
    error = invalid(payload)
    assert error.field == "alerts[0].startsAt"
    assert error.message == (
        f'expected the time the alert started, got Go\'s zero time "{GO_ZERO}"'
    )


def test_firing_alert_end_is_still_validated() -> None:
    payload = valid_payload()
    payload["alerts"][0]["endsAt"] = "soon"
    assert invalid(payload).field == "alerts[0].endsAt"


@pytest.mark.parametrize(
    ("fingerprint", "message"),
    [
        ("", 'expected a non-empty string, got ""'),
        ("f" * 129, "expected at most 128 characters, got 129"),
        (0x3B1C0A6F, "expected a string, got a number"),
    ],
)
def test_bad_fingerprint(fingerprint: object, message: str) -> None:
    payload = valid_payload()
    payload["alerts"][0]["fingerprint"] = fingerprint
    error = invalid(payload)
    assert (error.field, error.message) == ("alerts[0].fingerprint", message)


def test_fingerprint_of_128_characters_is_accepted() -> None:
    payload = valid_payload()
    payload["alerts"][0]["fingerprint"] = "f" * 128
    assert parse_webhook(payload).alerts[0].fingerprint == "f" * 128


@pytest.mark.parametrize(
    ("value", "shown"),
    [(-1, "-1"), (True, "true"), (1.0, "1.0"), ("2", '"2"'), (None, "null"), ([], "an array")],
)
def test_bad_truncated_alerts(value: object, shown: str) -> None:
    payload = valid_payload()
    payload["truncatedAlerts"] = value
    error = invalid(payload)
    assert error.field == "truncatedAlerts"
    assert error.message == f"expected a non-negative integer, got {shown}"


@pytest.mark.parametrize("field", ["receiver", "externalURL", "groupKey"])
def test_top_level_string_of_the_wrong_type(field: str) -> None:
    payload = valid_payload()
    payload[field] = {"url": "x"}
    error = invalid(payload)
    assert (error.field, error.message) == (field, "expected a string, got an object")


def test_generator_url_of_the_wrong_type() -> None:
    payload = valid_payload()
    payload["alerts"][0]["generatorURL"] = None
    error = invalid(payload)
    assert (error.field, error.message) == ("alerts[0].generatorURL", "expected a string, got null")


def test_extra_number_too_large_for_json() -> None:
    error = invalid_body(json.dumps(valid_payload())[:-1].encode() + b', "score": [1e999]}')
    assert error.field == "body"
    assert error.message.startswith("invalid JSON: number is infinity")


def test_extra_that_is_not_a_json_value() -> None:
    payload = valid_payload()
    payload["alerts"][0]["seen"] = {"at": datetime(2024, 5, 14, tzinfo=UTC)}
    error = invalid(payload)
    assert (error.field, error.message) == (
        "alerts[0].seen.at",
        "expected a JSON value, got a Python datetime",
    )


def test_extra_nested_too_deeply() -> None:
    deep: object = "bottom"
    for _ in range(150):
        deep = [deep]
    payload = valid_payload()
    payload["deep"] = deep
    error = invalid(payload)
    assert error.field == "deep" + "[0]" * 99
    assert error.message == "expected at most 100 levels of nesting"


def test_first_error_in_document_order_is_reported() -> None:
    payload = valid_payload(2)
    payload["alerts"][1]["status"] = "unknown"
    payload["alerts"][0]["fingerprint"] = ""
    assert invalid(payload).field == "alerts[0].fingerprint"


# --- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-14T09:12:43Z", utc(2024, 5, 14, 9, 12, 43)),
        ("2024-05-14T09:12:43.5Z", utc(2024, 5, 14, 9, 12, 43, 500000)),
        ("2024-05-14T09:12:43.000001Z", utc(2024, 5, 14, 9, 12, 43, 1)),
        ("2024-05-14T09:12:43.123456789Z", utc(2024, 5, 14, 9, 12, 43, 123456)),
        # Truncated, not rounded: rounding would carry into the next second.
        ("2024-05-14T09:12:43.999999999Z", utc(2024, 5, 14, 9, 12, 43, 999999)),
        ("2024-05-14T09:12:43.1234567+00:00", utc(2024, 5, 14, 9, 12, 43, 123456)),
        ("2024-05-14t09:12:43z", utc(2024, 5, 14, 9, 12, 43)),
        ("2024-05-14T11:12:43+02:00", utc(2024, 5, 14, 9, 12, 43)),
        ("2024-05-13T23:42:43.25-09:30", utc(2024, 5, 14, 9, 12, 43, 250000)),
        ("2024-05-14T09:12:43-00:00", utc(2024, 5, 14, 9, 12, 43)),
        ("2024-12-31T23:30:00-01:00", utc(2025, 1, 1, 0, 30)),
        ("2024-02-29T00:00:00Z", utc(2024, 2, 29)),
        (GO_ZERO, utc(1, 1, 1)),
        ("9999-12-31T23:59:59.999999999Z", utc(9999, 12, 31, 23, 59, 59, 999999)),
    ],
)
def test_parse_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-14T09:12:43",  # no offset: which instant is unknown
        "2024-05-14T09:12:43.123",
        "2024-05-14 09:12:43Z",
        "2024-05-14",
        "20240514T091243Z",
        "2024-05-14T09:12Z",
        "2024-05-14T09:12:43.Z",
        "2024-05-14T09:12:43.1234567890Z",
        "2024-05-14T09:12:43,5Z",
        "2024-05-14T09:12:43+0200",
        "2024-05-14T09:12:43+02",
        "2024-05-14T09:12:43+02:00:00",
        "2024-05-14T24:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-05-14T09:12:60Z",  # Go refuses leap seconds too
        "2024-05-14T09:60:00Z",
        "2024-05-14T09:12:43+24:00",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "\uff12\uff10\uff12\uff14-05-14T09:12:43Z",  # full-width digits
        "2024-05-14T09:12:43Z\n",
        " 2024-05-14T09:12:43Z",
        "",
        "yesterday",
    ],
)
def test_parse_rfc3339_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_parse_rfc3339_says_when_the_offset_is_missing() -> None:
    with pytest.raises(ValueError, match="missing UTC offset"):
        parse_rfc3339("2024-05-14T09:12:43.123456789")


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (utc(2024, 5, 14, 9, 12, 43), "2024-05-14T09:12:43Z"),
        (utc(2024, 5, 14, 9, 12, 43, 500), "2024-05-14T09:12:43.000500Z"),
        (utc(1, 1, 1), GO_ZERO),
        (
            datetime(2024, 5, 14, 11, 12, 43, 1, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-14T09:12:43.000001Z",
        ),
    ],
)
def test_format_rfc3339(dt: datetime, text: str) -> None:
    assert format_rfc3339(dt) == text


def test_format_rfc3339_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_rfc3339(datetime(2024, 5, 14))


offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-(24 * 60 - 1), 24 * 60 - 1)
)


@settings(max_examples=examples(200))
@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets)
)
def test_rfc3339_round_trips(dt: datetime) -> None:
    text = format_rfc3339(dt)
    assert text.endswith("Z")
    assert parse_rfc3339(text) == dt


@settings(max_examples=examples(200))
@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(0, 999),
    st.integers(1, 9),
    offsets,
)
def test_rfc3339_truncates_any_fraction_to_microseconds(
    naive: datetime, nanos: int, digits: int, offset: timezone
) -> None:
    fraction = f"{naive.microsecond:06d}{nanos:03d}"[:digits]
    minutes = int(offset.utcoffset(None).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    text = (
        f"{naive.isoformat(timespec='seconds')}.{fraction}"
        f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    )
    micro = int(fraction[:6].ljust(6, "0"))
    expected = naive.replace(microsecond=micro, tzinfo=offset)
    assert parse_rfc3339(text) == expected


# --- properties -------------------------------------------------------------------------------


def text(**kwargs: Any) -> st.SearchStrategy[str]:
    """Text a stored alert can hold: anything but NUL, which PostgreSQL cannot store."""
    return st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), **kwargs)


json_scalars = (
    st.none()
    | st.booleans()
    # 64-bit integers: what the JSON decoder keeps exact (larger ones become floats).
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

TOP_FIELDS = frozenset(valid_payload(0))
ALERT_FIELDS = frozenset(valid_payload(1)["alerts"][0])
string_maps = st.dictionaries(text(max_size=12), text(max_size=24), max_size=4)
instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@st.composite
def alerts(draw: st.DrawFn) -> AlertSnapshot:
    status = draw(st.sampled_from(AlertStatus))
    return AlertSnapshot(
        status=status,
        labels=draw(st.dictionaries(text(max_size=12), text(max_size=24), min_size=1, max_size=5)),
        annotations=draw(string_maps),
        starts_at=draw(instants),
        ends_at=None if status is FIRING else draw(st.none() | instants),
        generator_url=draw(text(max_size=40)),
        fingerprint=draw(text(min_size=1, max_size=128)),
        extra=draw(
            st.dictionaries(
                text(max_size=10).filter(lambda k: k not in ALERT_FIELDS),
                json_values,
                max_size=3,
            )
        ),
    )


notifications = st.builds(
    Notification,
    version=st.just("4"),
    group_key=text(max_size=40),
    truncated_alerts=st.integers(0, 2**64 - 1),
    status=st.sampled_from(AlertStatus),
    receiver=text(max_size=20),
    group_labels=string_maps,
    common_labels=string_maps,
    common_annotations=string_maps,
    external_url=text(max_size=40),
    alerts=st.lists(alerts(), max_size=4).map(tuple),
    extra=st.dictionaries(
        text(max_size=10).filter(lambda k: k not in TOP_FIELDS), json_values, max_size=3
    ),
)


@settings(max_examples=examples(200))
@given(json_values)
def test_any_json_value_parses_or_is_invalid_input(value: object) -> None:
    try:
        result = parse_webhook(value)
    except InvalidInput as error:
        assert error.field
        assert error.message
    else:
        assert isinstance(result, Notification)


@settings(max_examples=examples(200))
@given(st.binary(max_size=64))
def test_any_bytes_parse_or_are_invalid_input(body: bytes) -> None:
    try:
        parse_webhook_body(body)
    except InvalidInput as error:
        # Not always "body": b"{}" is JSON, and then a missing field is named.
        assert error.field


@settings(max_examples=examples(200))
@given(notifications)
def test_valid_notifications_round_trip(n: Notification) -> None:
    payload = notification_to_payload(n)
    assert parse_webhook(payload) == n
    assert parse_webhook_body(json.dumps(payload, ensure_ascii=False).encode()) == n


Setter = Callable[[object], None]


def _fields(payload: dict[str, Any]) -> list[tuple[str, type, Setter]]:
    """Every field of ``payload`` Firebreak checks: its path, its JSON type, how to replace it."""

    def setter(container: dict[str, Any], key: str) -> Setter:
        return lambda value: container.__setitem__(key, value)

    top = [
        ("version", str),
        ("groupKey", str),
        ("truncatedAlerts", int),
        ("status", str),
        ("receiver", str),
        ("groupLabels", dict),
        ("commonLabels", dict),
        ("commonAnnotations", dict),
        ("externalURL", str),
        ("alerts", list),
    ]
    per_alert = [
        ("status", str),
        ("labels", dict),
        ("annotations", dict),
        ("startsAt", str),
        ("endsAt", str),
        ("generatorURL", str),
        ("fingerprint", str),
    ]
    fields = [(key, kind, setter(payload, key)) for key, kind in top]
    for i, alert in enumerate(payload["alerts"]):
        fields += [(f"alerts[{i}].{key}", kind, setter(alert, key)) for key, kind in per_alert]
        fields.append((f"alerts[{i}].labels.alertname", str, setter(alert["labels"], "alertname")))
    return fields


@settings(max_examples=examples(200))
@given(notifications, st.data())
def test_one_wrong_typed_field_is_named(n: Notification, data: st.DataObject) -> None:
    payload = notification_to_payload(n)
    path, kind, replace = data.draw(st.sampled_from(_fields(payload)), label="field")
    replace(data.draw(json_values.filter(lambda v: type(v) is not kind), label="value"))

    with pytest.raises(InvalidInput) as caught:
        parse_webhook(payload)
    assert caught.value.field == path
    assert caught.value.message.startswith("expected ")


@settings(max_examples=examples(200))
@given(notifications, json_values, st.data())
def test_any_value_anywhere_parses_or_is_invalid_input(
    n: Notification, value: object, data: st.DataObject
) -> None:
    payload = notification_to_payload(n)
    path, _, replace = data.draw(st.sampled_from(_fields(payload)), label="field")
    replace(value)
    try:
        parse_webhook(payload)
    except InvalidInput as error:
        assert error.field.startswith(path)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"labels": {"pod": "a\x00"}}, "alerts[0].labels.pod"),
        ({"annotations": {"summary": "\x00"}}, "alerts[0].annotations.summary"),
        ({"labels": {"a\x00": "x"}}, "alerts[0].labels"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(payload: dict[str, Any], field: str) -> None:
    body = json.loads((PAYLOADS / "firing_group.json").read_text())
    body["alerts"][0].update(payload)
    with pytest.raises(InvalidInput) as info:
        parse_webhook_body(json.dumps(body).encode())
    assert info.value.field == field
    assert "NUL" in info.value.message
