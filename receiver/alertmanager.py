"""Alertmanager's side of the wire: the webhook payload (version 4) and RFC 3339 timestamps.

The webhook body is what Alertmanager's ``notify/webhook`` sends: ``template.Data`` (receiver,
status, alerts, groupLabels, commonLabels, commonAnnotations, externalURL) plus ``version``,
``groupKey`` and ``truncatedAlerts``. Parsing checks strictly the fields Firebreak relies on and
keeps every field it does not know in ``extra``, so that a newer Alertmanager is never refused and
nothing it sent is lost.

The parser sits on the ingest hot path (tens of thousands of alerts a second), so the common case
is written with exact ``type(x) is ...`` checks and direct dict lookups, and every error message is
only built once something is known to be wrong.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

import orjson

from receiver.errors import InvalidInput
from receiver.model import AlertSnapshot, AlertStatus, Notification

__all__ = [
    "decode_body",
    "format_rfc3339",
    "notification_to_payload",
    "parse_rfc3339",
    "parse_webhook",
    "parse_webhook_body",
]

PAYLOAD_VERSION: Final = "4"
MAX_FINGERPRINT_LENGTH: Final = 128
# Deep enough for any real field; shallow enough that the value can be re-encoded with json.dumps
# (which recurses) from however deep a call stack the store layer runs in.
MAX_EXTRA_DEPTH: Final = 100

# Go's zero time.Time, which Alertmanager sends as endsAt while an alert is firing.
_GO_ZERO_TEXT: Final = "0001-01-01T00:00:00Z"
_GO_ZERO: Final = datetime(1, 1, 1, tzinfo=UTC)

_MISSING: Final = "required field is missing"
_STATUSES: Final[dict[str, AlertStatus]] = {s.value: s for s in AlertStatus}
_STATUS_EXPECTED: Final = 'expected "firing" or "resolved"'

_TOP_KEYS: Final = frozenset(
    {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
)
_REQUIRED_TOP_KEY_COUNT: Final = len(_TOP_KEYS) - 1  # all but truncatedAlerts
_ALERT_KEYS: Final = frozenset(
    {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
)
_ALERT_KEY_COUNT: Final = len(_ALERT_KEYS)

# [0-9] rather than \d: \d also matches non-ASCII digits, which fromisoformat would then refuse.
# The offset's range is checked here because fromisoformat takes "+01:90" as 2h30m.
_RFC3339_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
# Only used to explain a failure: the commonest mistake is a local time without an offset.
_RFC3339_NO_OFFSET_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
)
_RFC3339_FORM: Final = "the form is YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or ±HH:MM"
_IDENTIFIER_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_fromisoformat: Final = datetime.fromisoformat


# --- timestamps -------------------------------------------------------------------------------


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into a timezone-aware ``datetime`` in UTC.

    Accepts ``T`` or ``t`` between date and time, 1 to 9 fractional digits (Go sends nanoseconds;
    anything below a microsecond is truncated) and a ``Z``/``z`` or ``±HH:MM`` offset. A timestamp
    without an offset is refused: its instant would be a guess. Raises ``ValueError`` saying why.
    """
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        if _RFC3339_NO_OFFSET_RE.fullmatch(text):
            raise ValueError("missing UTC offset: Z or ±HH:MM")
        raise ValueError(_RFC3339_FORM)
    normalised = text
    fraction_end = match.end(1)
    # The fraction group starts at index 19 with its dot, so digits run from 20 to fraction_end.
    # Python's datetime stops at microseconds, and not every 3.11 release skips extra digits.
    if fraction_end > 26:
        normalised = normalised[:26] + normalised[fraction_end:]
    if normalised[-1] == "z":  # fromisoformat only knows the upper-case form
        normalised = normalised[:-1] + "Z"
    try:
        parsed = _fromisoformat(normalised)
    except ValueError as exc:  # shape is right, so a field is out of range ("month must be ...")
        raise ValueError(str(exc)) from None
    if parsed.tzinfo is not UTC:
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 falls before year 1
            raise ValueError("outside the years 1 to 9999 once converted to UTC") from None
    return parsed


def format_rfc3339(dt: datetime) -> str:
    """Format an aware ``datetime`` as RFC 3339 in UTC with a ``Z``, e.g. ``2024-05-01T12:00:00Z``.

    Microseconds appear (as six digits) only when non-zero. A naive ``datetime`` raises
    ``ValueError``: which instant it means is unknown.
    """
    offset = dt.utcoffset()
    if offset is None:
        raise ValueError(f"cannot format a naive datetime as RFC 3339: {dt!r}")
    if offset:
        dt = dt.astimezone(UTC)
    # isoformat zero-pads the year (strftime's %Y does not on glibc) and omits zero microseconds.
    return dt.replace(tzinfo=None).isoformat() + "Z"


# --- webhook ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> object:
    # The stdlib decoder accepts NaN and ±Infinity, which are not JSON and would make a stored
    # payload impossible to re-encode.
    raise ValueError(f"{name} is not a JSON value")


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def parse_webhook_body(body: bytes) -> Notification:
    """Decode an Alertmanager webhook request body (UTF-8 JSON) and parse it.

    Raises ``InvalidInput`` with field ``body`` when the bytes are not UTF-8 or not JSON, and
    whatever ``parse_webhook`` raises for a JSON document that is not a valid payload.
    """
    return parse_webhook(decode_body(body))


def decode_body(body: bytes) -> object:
    """Decode a webhook request body (strict UTF-8 JSON, no NUL) into plain JSON values.

    Raises ``InvalidInput`` with field ``body`` when the bytes are not UTF-8 or not JSON, and
    naming the value when a string holds NUL, which no store can keep.
    """
    try:
        # orjson is strict (UTF-8, no NaN, no lone surrogates) and several times faster than
        # the standard library on the hot path; the slow path below explains what is wrong.
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        _raise_decode_error(body, exc)
    if b"\\u0000" in body:  # cheap test first: JSON can only carry NUL as this escape
        _reject_nul(payload, "")
    return payload


def _raise_decode_error(body: bytes, fast_error: ValueError) -> NoReturn:
    """Name what makes ``body`` unreadable, with line and column, as precisely as we can."""
    try:
        # Decoding ourselves, strictly: json.loads(bytes) guesses UTF-16/32 and lets lone
        # surrogates through ("surrogatepass").
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        column = exc.start - body.rfind(b"\n", 0, exc.start)
        raise InvalidInput(
            "body",
            f"invalid JSON: not UTF-8 (byte 0x{body[exc.start]:02x}): "
            f"line {line} column {column} (byte {exc.start})",
        ) from None
    try:
        _DECODER.decode(text)
    except json.JSONDecodeError as exc:  # its str() carries line, column and offset
        raise InvalidInput("body", f"invalid JSON: {exc}") from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        raise InvalidInput("body", f"invalid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput("body", "invalid JSON: nested too deeply") from None
    # The standard library would take it (a number out of range, nesting it allows): the
    # strict reading stands.
    raise InvalidInput("body", f"invalid JSON: {fast_error}")


def _reject_nul(value: object, path: str) -> None:
    """PostgreSQL text cannot hold NUL, so no store accepts it: name where it is."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(
                path or "body", "contains a NUL character (\\u0000), which cannot be stored"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key, path or "body")
            _reject_nul(item, path + _child(key) if path else _child(key).removeprefix("."))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_nul(item, f"{path}[{index}]")


def parse_webhook(payload: object) -> Notification:
    """Validate a decoded webhook payload (version 4) and turn it into a ``Notification``.

    Fields Firebreak relies on are checked strictly; unknown fields are kept, as plain JSON
    values, in ``Notification.extra`` and ``AlertSnapshot.extra``. The result shares no mutable
    object with ``payload``. Raises ``InvalidInput`` whose ``field`` is the path of the first
    offending value (``alerts[3].startsAt``, ``alerts[0].labels.severity``, ``body`` for the
    document itself) and whose ``message`` says what was expected and what was found.
    """
    if type(payload) is not dict:
        raise InvalidInput("body", f"expected a JSON object, got {_type_name(payload)}")
    try:
        version = payload["version"]
        group_key = payload["groupKey"]
        status_raw = payload["status"]
        receiver = payload["receiver"]
        group_labels = payload["groupLabels"]
        common_labels = payload["commonLabels"]
        common_annotations = payload["commonAnnotations"]
        external_url = payload["externalURL"]
        alerts_raw = payload["alerts"]
    except KeyError as exc:
        raise InvalidInput(str(exc.args[0]), _MISSING) from None
    # Checked first: a different version may well explain every other mismatch.
    if type(version) is not str:
        raise _expected_string("version", version)
    if version != PAYLOAD_VERSION:
        raise InvalidInput(
            "version", f'unsupported payload version {_show(version)}; expected "{PAYLOAD_VERSION}"'
        )
    if type(group_key) is not str:
        raise _expected_string("groupKey", group_key)
    truncated = payload.get("truncatedAlerts", 0)
    if type(truncated) is not int or truncated < 0:  # type(...) is int also shuts out bool
        raise InvalidInput(
            "truncatedAlerts", f"expected a non-negative integer, got {_show(truncated)}"
        )
    status = _STATUSES.get(status_raw) if type(status_raw) is str else None
    if status is None:
        raise InvalidInput("status", f"{_STATUS_EXPECTED}, got {_show(status_raw)}")
    if type(receiver) is not str:
        raise _expected_string("receiver", receiver)
    group_labels = _string_map(group_labels, "groupLabels")
    common_labels = _string_map(common_labels, "commonLabels")
    common_annotations = _string_map(common_annotations, "commonAnnotations")
    if type(external_url) is not str:
        raise _expected_string("externalURL", external_url)
    if type(alerts_raw) is not list:
        raise InvalidInput("alerts", f"expected an array, got {_type_name(alerts_raw)}")
    alerts = tuple([_parse_alert(raw, index) for index, raw in enumerate(alerts_raw)])
    # Every required key is present by now, so any key beyond them and truncatedAlerts is unknown.
    if len(payload) > _REQUIRED_TOP_KEY_COUNT + ("truncatedAlerts" in payload):
        extra = {
            key: _json_value(value, _child(key).removeprefix("."), 1)
            for key, value in payload.items()
            if key not in _TOP_KEYS
        }
    else:
        extra = {}
    return Notification(
        version=version,
        group_key=group_key,
        truncated_alerts=truncated,
        status=status,
        receiver=receiver,
        group_labels=group_labels,
        common_labels=common_labels,
        common_annotations=common_annotations,
        external_url=external_url,
        alerts=alerts,
        extra=extra,
    )


def _parse_alert(raw: object, index: int) -> AlertSnapshot:
    """Validate one element of ``alerts``; ``index`` only serves to name fields in errors."""
    if type(raw) is not dict:
        raise InvalidInput(f"alerts[{index}]", f"expected an object, got {_type_name(raw)}")
    try:
        status_raw = raw["status"]
        labels = raw["labels"]
        annotations = raw["annotations"]
        starts_raw = raw["startsAt"]
        ends_raw = raw["endsAt"]
        generator_url = raw["generatorURL"]
        fingerprint = raw["fingerprint"]
    except KeyError as exc:
        raise InvalidInput(f"alerts[{index}].{exc.args[0]}", _MISSING) from None
    status = _STATUSES.get(status_raw) if type(status_raw) is str else None
    if status is None:
        raise InvalidInput(
            f"alerts[{index}].status", f"{_STATUS_EXPECTED}, got {_show(status_raw)}"
        )
    labels = _string_map(labels, "labels", index)
    if not labels:
        raise InvalidInput(
            f"alerts[{index}].labels", "expected at least one label, got an empty object"
        )
    annotations = _string_map(annotations, "annotations", index)
    starts_at = _timestamp(starts_raw, index, "startsAt")
    if starts_at is None:
        raise InvalidInput(
            f"alerts[{index}].startsAt",
            f"expected the time the alert started, got Go's zero time {_show(starts_raw)}",
        )
    ends_at = _timestamp(ends_raw, index, "endsAt")
    if status is AlertStatus.FIRING:
        # Prometheus sends a provisional endsAt in the future with every firing alert; the alert
        # has not ended, so it is validated above but not kept.
        ends_at = None
    if type(generator_url) is not str:
        raise _expected_string(f"alerts[{index}].generatorURL", generator_url)
    if type(fingerprint) is not str or not 0 < len(fingerprint) <= MAX_FINGERPRINT_LENGTH:
        raise _fingerprint_error(fingerprint, index)
    if len(raw) > _ALERT_KEY_COUNT:  # every known key is present, so more keys means extras
        prefix = f"alerts[{index}]"
        extra = {
            key: _json_value(value, prefix + _child(key), 1)
            for key, value in raw.items()
            if key not in _ALERT_KEYS
        }
    else:
        extra = {}
    # Positional on purpose: keywords make the frozen dataclass's __init__ a quarter slower, and
    # this runs once per alert. The order is AlertSnapshot's field order; the tests pin each field.
    return AlertSnapshot(
        status, labels, annotations, starts_at, ends_at, generator_url, fingerprint, extra
    )


def _string_map(value: object, name: str, index: int = -1) -> dict[str, str]:
    """Return a copy of ``value`` if it is an object of strings to strings, else raise."""
    if type(value) is dict:
        for key, item in value.items():
            if type(item) is not str or type(key) is not str:
                break
        else:
            return value.copy()
    prefix = name if index < 0 else f"alerts[{index}].{name}"
    if type(value) is not dict:
        raise InvalidInput(prefix, f"expected an object, got {_type_name(value)}")
    for key, item in value.items():
        if type(key) is not str:
            raise InvalidInput(prefix, f"expected an object with string keys, got key {key!r}")
        if type(item) is not str:
            raise _expected_string(prefix + _child(key), item)
    raise AssertionError("unreachable: the fast check found a non-string")  # pragma: no cover


# Alerts that fire from one rule evaluation share their startsAt, and Alertmanager re-sends the
# same ones every group_interval: a small memo of parsed timestamps spares most parses. The
# values are immutable datetimes, so sharing them is safe.
_RECENT_TIMES_MAX = 4096
_recent_times: dict[str, datetime] = {}


def _timestamp(value: object, index: int, name: str) -> datetime | None:
    """Parse an alert's timestamp field; Go's zero time becomes ``None``."""
    if value == _GO_ZERO_TEXT:  # endsAt of every alert nobody gave an end: spare the parse
        return None
    if type(value) is str:
        cached = _recent_times.get(value)
        if cached is not None:
            return None if cached == _GO_ZERO else cached
        try:
            parsed = parse_rfc3339(value)
            if len(_recent_times) >= _RECENT_TIMES_MAX:
                _recent_times.clear()
            _recent_times[value] = parsed
        except ValueError as exc:
            reason = str(exc)
        else:
            return None if parsed == _GO_ZERO else parsed
        detail = "" if reason == _RFC3339_FORM else f" ({reason})"
    else:
        detail = ""
    raise InvalidInput(
        f"alerts[{index}].{name}", f"expected an RFC 3339 timestamp, got {_show(value)}{detail}"
    )


def _fingerprint_error(value: object, index: int) -> InvalidInput:
    field = f"alerts[{index}].fingerprint"
    if type(value) is not str:
        return _expected_string(field, value)
    if not value:
        return InvalidInput(field, 'expected a non-empty string, got ""')
    return InvalidInput(
        field,
        f"expected at most {MAX_FINGERPRINT_LENGTH} characters, got {len(value)}",
    )


def _json_value(value: object, path: str, depth: int) -> Any:
    """Return a copy of ``value`` if it is a plain JSON value, else raise ``InvalidInput``.

    Anything ``json.loads`` produces passes, except numbers too large for a float (``1e999``
    decodes to infinity, which JSON cannot express).
    """
    if type(value) is str or type(value) is int or type(value) is bool or value is None:
        return value
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise InvalidInput(path, f"expected a finite number, got {value!r}")
    if depth >= MAX_EXTRA_DEPTH:
        raise InvalidInput(path, f"expected at most {MAX_EXTRA_DEPTH} levels of nesting")
    if type(value) is list:
        return [_json_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if type(value) is dict:
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise InvalidInput(path, f"expected an object with string keys, got key {key!r}")
            copied[key] = _json_value(item, path + _child(key), depth + 1)
        return copied
    raise InvalidInput(path, f"expected a JSON value, got {_type_name(value)}")


# --- messages (slow path only) ----------------------------------------------------------------


def _type_name(value: object) -> str:
    """Name ``value``'s JSON type with its article, as in "got a number"."""
    # Exact types, as the checks use: a str or dict subclass is not what json.loads produces.
    kind = type(value)
    if value is None:
        return "null"
    if kind is bool:
        return "a boolean"
    if kind is int or kind is float:
        return "a number"
    if kind is str:
        return "a string"
    if kind is list:
        return "an array"
    if kind is dict:
        return "an object"
    return f"a Python {kind.__name__}"


def _show(value: object) -> str:
    """Show a scalar as JSON (long strings shortened) and anything else by its type."""
    kind = type(value)
    if kind is str:
        text = str(value)
        if len(text) > 64:
            return json.dumps(text[:61], ensure_ascii=False)[:-1] + '..."'
        return json.dumps(text, ensure_ascii=False)
    if value is None or kind is bool or kind is int or kind is float:
        try:
            return json.dumps(value, allow_nan=True)
        except ValueError:  # an int beyond sys.get_int_max_str_digits()
            return "a very large number"
    return _type_name(value)


def _expected_string(field: str, value: object) -> InvalidInput:
    return InvalidInput(field, f"expected a string, got {_type_name(value)}")


def _child(key: str) -> str:
    """The path suffix naming ``key`` of an object: ``.severity`` or ``["app.kubernetes.io"]``."""
    if _IDENTIFIER_RE.fullmatch(key):
        return "." + key
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


# --- the inverse ------------------------------------------------------------------------------


def notification_to_payload(n: Notification) -> dict[str, object]:
    """Build the webhook payload ``parse_webhook`` would turn into ``n``.

    Field order follows what Alertmanager sends; a ``None`` endsAt becomes Go's zero time. Extras
    are merged back after the known fields and never override them. Nothing in the result is
    shared with ``n``.
    """
    payload: dict[str, object] = {
        "receiver": n.receiver,
        "status": n.status.value,
        "alerts": [_alert_to_payload(alert) for alert in n.alerts],
        "groupLabels": dict(n.group_labels),
        "commonLabels": dict(n.common_labels),
        "commonAnnotations": dict(n.common_annotations),
        "externalURL": n.external_url,
        "version": n.version,
        "groupKey": n.group_key,
        "truncatedAlerts": n.truncated_alerts,
    }
    _merge_extra(payload, n.extra)
    return payload


def _alert_to_payload(alert: AlertSnapshot) -> dict[str, object]:
    ends_at = _GO_ZERO_TEXT if alert.ends_at is None else format_rfc3339(alert.ends_at)
    payload: dict[str, object] = {
        "status": alert.status.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": format_rfc3339(alert.starts_at),
        "endsAt": ends_at,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }
    _merge_extra(payload, alert.extra)
    return payload


def _merge_extra(payload: dict[str, object], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if key not in payload:
            payload[key] = _json_copy(value)


def _json_copy(value: object) -> object:
    if type(value) is dict:
        return {key: _json_copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_json_copy(item) for item in value]
    return value
