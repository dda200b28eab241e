"""The ``pagerduty`` channel: one Events API v2 event per alert, through ``EventsApiV2Client``.

Events
------
Each alert of a notice becomes one event on the routing key the target names (an alias under
``routing_keys``; an empty target means ``default``):

* ``firing`` -> ``trigger``, ``resolved`` -> ``resolve``, ``acknowledged`` -> ``acknowledge``;
  a ``digest`` triggers its firing alerts and resolves its resolved ones.
* ``dedup_key`` is ``firebreak/<startsAt RFC 3339>/<fingerprint>``: one alert occurrence is one
  PagerDuty alert however often (and from whichever replica) its trigger is sent, and the key
  leads back to the occurrence when PagerDuty reports an acknowledge or resolve. Keys that
  would pass PagerDuty's 255 characters are hashed (and then found only by the recorded key).
* An occurrence keeps the key of its first trigger. Each event's key is recorded per alert (the
  notifications' ``reference``), and delivery hands the channel the keys recorded for a
  notice's alerts (``Notice.references``, as it hands Slack its messages). Migrations 0017 and
  0018 gave Grafana's and Firebreak's own alerts new fingerprints (``grafana:…``,
  ``firebreak:…``), so an incident opened before the upgrade is under the key of the
  fingerprint before (``earlier_fingerprints``): later triggers, acknowledges and resolves of
  the occurrence use the key recorded for it. Releases before recorded no key for a notice of
  several alerts; an acknowledge or resolve of an alert with an earlier fingerprint and no key
  on record goes to every key it may have had (PagerDuty drops one whose key has no alert).
* A trigger carries ``summary`` (alertname and summary annotation), ``source`` (the configured
  label, else the generator URL's host, else ``firebreak``), ``severity`` (the severity label
  through ``severity_map``, else ``default_severity``), ``timestamp`` (startsAt),
  ``component``/``group``/``class`` from configured labels, ``custom_details`` with the labels
  and annotations, and links to the generator URL, the ``runbook_url`` annotation and a Grafana
  dashboard annotation.

Delivery
--------
The client is synchronous, so each call runs in a worker thread, and it is built never to wait
on its own: no network retries and no HTTP retries (its default retries 429 forever with a
blocking sleep). The durable job that called ``send`` does every wait:

* 2xx (PagerDuty answers 202) is delivered;
* 429 is ``ChannelThrottled``: the routing key rests for ``Retry-After`` or ``throttle_wait``,
  and every send on that key meanwhile is throttled at once without a request;
* 400 and other 4xx are ``ChannelRejected`` with PagerDuty's ``message`` and ``errors``;
* 408, 5xx, timeouts and connection errors are ``ChannelError``.

Sends are paced per routing key (``events_per_minute``, below PagerDuty's ~120 a minute): a send
that would exceed the pace is throttled before any request. A retried notice repeats its events
with the same keys, which PagerDuty folds into the alert it already has.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
import string
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import pagerduty

from receiver.alertmanager import format_rfc3339, parse_rfc3339
from receiver.clock_skew import escalation_start
from receiver.config import PagerDutyChannelConfig
from receiver.model import system_clock
from receiver.notify.base import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    Delivery,
    Notice,
    NoticeAlert,
    NoticeKind,
)
from receiver.notify.render import safe_url
from receiver.notify.webhook import parse_retry_after
from receiver.ratelimit import TokenBucket

__all__ = [
    "DEDUP_PREFIX",
    "MAX_DEDUP_KEY",
    "PagerDutyChannel",
    "dedup_key",
    "earlier_fingerprints",
    "later_fingerprint",
    "parse_dedup_key",
    "trigger_event",
]

log = logging.getLogger("firebreak.notify.pagerduty")

DEDUP_PREFIX: Final = "firebreak/"
MAX_DEDUP_KEY: Final = 255  # PagerDuty's limit on dedup_key
MAX_SUMMARY: Final = 1024  # PagerDuty's limit on payload.summary
DEFAULT_ALIAS: Final = "default"
# Events a routing key may send at once after a quiet spell. With events_per_minute at 100 a key
# sends at most 110 in any minute, below PagerDuty's ~120.
_PACE_BURST: Final = 10
_ERROR_CHARS: Final = 300
_PROGRESS_KEPT: Final = 10_000  # events remembered of notices sent part-way


# --- the event ----------------------------------------------------------------------------------


def dedup_key(alert: NoticeAlert, fingerprint: str | None = None) -> str:
    """The PagerDuty ``dedup_key`` of an alert occurrence (see the module docstring), by its
    fingerprint or the one given."""
    fingerprint = alert.fingerprint if fingerprint is None else fingerprint
    key = f"{DEDUP_PREFIX}{format_rfc3339(alert.starts_at)}/{fingerprint}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return DEDUP_PREFIX + "sha256/" + hashlib.sha256(key.encode("utf-8")).hexdigest()


# The fingerprints migrations rewrote, and what they were before: 0017 prefixed Grafana's with
# ``grafana:``; 0018 turned Firebreak's own ``fb`` + 14 hex digits into ``firebreak:`` + the same.
_GRAFANA: Final = "grafana:"
_FIREBREAK: Final = "firebreak:"
_FIREBREAK_DIGITS: Final = 14


def earlier_fingerprints(fingerprint: str) -> tuple[str, ...]:
    """The fingerprints an alert stored as ``fingerprint`` had before migrations 0017/0018."""
    if fingerprint.startswith(_GRAFANA) and len(fingerprint) > len(_GRAFANA):
        return (fingerprint[len(_GRAFANA) :],)
    digits = fingerprint[len(_FIREBREAK) :]
    if fingerprint.startswith(_FIREBREAK) and len(digits) == _FIREBREAK_DIGITS:
        return ("fb" + digits,)
    return ()


def later_fingerprint(fingerprint: str) -> str | None:
    """What migrations 0017/0018 made of an alert's ``fingerprint`` that has an earlier
    shape, if they could have: the other way of ``earlier_fingerprints``."""
    if fingerprint.startswith("fb") and len(fingerprint) == 2 + _FIREBREAK_DIGITS:
        return _FIREBREAK + fingerprint[2:]
    if fingerprint and all(c in string.hexdigits for c in fingerprint):  # Grafana's are hex
        return _GRAFANA + fingerprint
    return None


def _keys_on_record(alert: NoticeAlert, order: Mapping[str, int]) -> list[str]:
    """The keys the alert's events were recorded with (of those it may have had), first sent
    first."""
    keys = [
        dedup_key(alert, f) for f in (alert.fingerprint, *earlier_fingerprints(alert.fingerprint))
    ]
    return sorted((k for k in keys if k in order), key=order.__getitem__)


def parse_dedup_key(key: str) -> tuple[str, datetime] | None:
    """``(fingerprint, starts_at)`` of a key ``dedup_key`` made, else ``None``."""
    if not key.startswith(DEDUP_PREFIX):
        return None
    starts, _, fingerprint = key[len(DEDUP_PREFIX) :].partition("/")
    if not fingerprint or starts == "sha256":
        return None
    try:
        return fingerprint, parse_rfc3339(starts)
    except ValueError:
        return None


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _severity(alert: NoticeAlert, config: PagerDutyChannelConfig) -> str:
    value = alert.labels.get(config.severity_label, "")
    return config.severity_map.get(value, config.default_severity)


def _source(alert: NoticeAlert, config: PagerDutyChannelConfig) -> str:
    value = alert.labels.get(config.source_label, "").strip()
    if value:
        return value
    url = safe_url(alert.generator_url)
    host = urlsplit(url).hostname if url else None
    return host or "firebreak"


def _links(alert: NoticeAlert, config: PagerDutyChannelConfig) -> list[dict[str, str]]:
    candidates = (
        (alert.generator_url, "Prometheus"),
        (alert.annotations.get("runbook_url", ""), "Runbook"),
        (alert.annotations.get(config.dashboard_annotation, ""), "Grafana"),
    )
    return [{"href": url, "text": text} for raw, text in candidates if (url := safe_url(raw))]


def trigger_event(
    alert: NoticeAlert, notice: Notice, config: PagerDutyChannelConfig
) -> dict[str, Any]:
    """The properties of the ``trigger`` event for ``alert`` (besides action, key, routing key)."""
    name = alert.labels.get("alertname", "alert")
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    payload: dict[str, Any] = {
        "summary": _one_line(f"{name}: {summary}" if summary else name, MAX_SUMMARY),
        "source": _one_line(_source(alert, config), 255),
        "severity": _severity(alert, config),
        # An alert from the future (a wrong clock, a made-up startsAt) is dated when Firebreak
        # first saw it: PagerDuty shows and sorts incidents by this.
        "timestamp": format_rfc3339(
            alert.starts_at
            if alert.first_seen_at is None
            else escalation_start(alert.starts_at, alert.first_seen_at)
        ),
    }
    for field, label in (
        ("component", config.component_label),
        ("group", config.group_label),
        ("class", config.class_label),
    ):
        if label and alert.labels.get(label):
            payload[field] = alert.labels[label]
    details: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "firebreak_alert_id": alert.id,
        "fingerprint": alert.fingerprint,
        "starts_at": format_rfc3339(alert.starts_at),
    }
    if notice.escalation_policy:
        details["escalation_policy"] = notice.escalation_policy
    if notice.tier is not None:
        details["tier"] = notice.tier + 1
    if notice.person:
        # Events API v2 cannot name an assignee: who Firebreak paged goes along for an Event
        # Orchestration rule to route on (docs/escalation.md "Paging people").
        details["firebreak_person"] = notice.person
        if notice.contact:
            details["pagerduty_user"] = notice.contact
    payload["custom_details"] = details
    event: dict[str, Any] = {"payload": payload, "client": "Firebreak"}
    links = _links(alert, config)
    if links:
        event["links"] = links
    return event


@dataclass(frozen=True, slots=True)
class _Event:
    action: str
    dedup_key: str
    properties: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _AlertEvents:
    alert_id: int
    events: tuple[_Event, ...]
    key: str | None  # the key to record for the alert; None when it is in doubt


def _events(notice: Notice, config: PagerDutyChannelConfig) -> list[_AlertEvents]:
    """The events a notice becomes: per alert one, or for an acknowledge or resolve one per
    key the alert may be under (see the module docstring)."""
    order = {key: i for i, key in reversed(list(enumerate(notice.references)))}
    found = []
    for alert in notice.alerts:
        on_record = _keys_on_record(alert, order)
        if notice.kind is NoticeKind.RESOLVED or (
            notice.kind is NoticeKind.DIGEST and alert.status == "resolved"
        ):
            action = "resolve"
        elif notice.kind is NoticeKind.ACKNOWLEDGED:
            action = "acknowledge"
        else:
            key = on_record[0] if on_record else dedup_key(alert)
            trigger = _Event("trigger", key, trigger_event(alert, notice, config))
            found.append(_AlertEvents(alert.id, (trigger,), key))
            continue
        earlier = earlier_fingerprints(alert.fingerprint)
        keys = on_record or [dedup_key(alert, f) for f in (alert.fingerprint, *earlier)]
        # Recorded only when sure, or the next follow-up would take a guess for the record.
        sure = keys[0] if on_record or not earlier else None
        found.append(_AlertEvents(alert.id, tuple(_Event(action, k, {}) for k in keys), sure))
    return found


# --- the client ---------------------------------------------------------------------------------


def _client(routing_key: str, config: PagerDutyChannelConfig) -> pagerduty.EventsApiV2Client:
    """An Events API client that makes exactly one request per call and never sleeps."""
    verify: ssl.SSLContext | bool = True
    if config.ca_file:
        verify = ssl.create_default_context(cafile=config.ca_file)
    client = pagerduty.EventsApiV2Client(routing_key, base_url=config.api_url, verify=verify)
    # Declared an int by the client; httpx takes any number of seconds.
    client.timeout = config.timeout.total_seconds()  # type: ignore[assignment]
    # A transport error is raised at once instead of being retried after a blocking sleep.
    client.max_network_attempts = 0
    # Only 429 needs a retry entry: without one the client retries it forever. With an entry,
    # the client hands the response back once "attempts so far > max_http_attempts", which at
    # -1 holds on the first answer. Every other status is returned as it is when no entry names
    # it, so the 5xx entries the client sets itself go too.
    client.retry = {429: 1}
    client.max_http_attempts = -1
    client.sleep_timer = 0  # should a later client version retry after all, it does not sleep
    return client


def _status(exc: pagerduty.Error) -> int | None:
    response = exc.response
    return None if response is None else int(response.status_code)


def _describe(exc: pagerduty.Error) -> str:
    """PagerDuty's own words: ``status: message (errors)`` from the JSON body, else its text."""
    response = exc.response
    if response is None:
        cause = exc.__cause__
        return f"{type(cause).__name__}: {cause}" if cause else str(exc)
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        parts = [f"{body.get('status', '')}: {body['message']}".strip(": ")]
        if isinstance(body.get("errors"), list):
            parts.append("(" + "; ".join(str(e) for e in body["errors"]) + ")")
        text = " ".join(parts)
    return f"HTTP {response.status_code}: {_one_line(text, _ERROR_CHARS)}"


class PagerDutyChannel:
    """Sends notices as Events API v2 events; see the module docstring."""

    kind = "pagerduty"
    follows_acknowledgements = True  # an acknowledge in Firebreak acknowledges the incident
    # Delivery hands it the keys its earlier events about the alerts were recorded with.
    threads = True

    def __init__(
        self,
        name: str,
        config: PagerDutyChannelConfig,
        *,
        clock: Callable[[], datetime] = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._config = config
        self._clock = clock
        self._monotonic = monotonic
        self._clients: dict[str, pagerduty.EventsApiV2Client] = {}
        self._pace: dict[str, TokenBucket] = {}
        self._resting_until: dict[str, float] = {}
        # Events accepted of notices not yet wholly sent: (idempotency key, alias, action, key).
        self._accepted: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()

    def _routing(self, target: str) -> tuple[str, pagerduty.EventsApiV2Client, TokenBucket]:
        alias = target.strip() or DEFAULT_ALIAS
        routing_key = self._config.routing_keys.get(alias)
        if routing_key is None:
            raise ChannelRejected(f"pagerduty {self.name}: no routing key named {alias!r}")
        if alias not in self._clients:
            self._clients[alias] = _client(routing_key, self._config)
            self._pace[alias] = TokenBucket(
                self._config.events_per_minute, _PACE_BURST, clock=self._monotonic
            )
        return alias, self._clients[alias], self._pace[alias]

    def _throttle_if_resting(self, alias: str, events: int, pace: TokenBucket) -> None:
        wait = self._resting_until.get(alias, 0.0) - self._monotonic()
        if wait > 0:
            raise ChannelThrottled(f"pagerduty {self.name}/{alias}: resting after a 429", wait)
        # Whole notices where they fit, so a retry repeats as few events as possible.
        if events <= pace.burst and pace.tokens < events - 1e-9:
            missing = events - pace.tokens
            raise ChannelThrottled(
                f"pagerduty {self.name}/{alias}: paced", missing * 60.0 / pace.per_minute
            )

    async def send(self, notice: Notice, target: str) -> Delivery:
        alias, client, pace = self._routing(target)
        by_alert = _events(notice, self._config)
        events = [e for one in by_alert for e in one.events]
        progress = [(notice.idempotency_key, alias, e.action, e.dedup_key) for e in events]
        # A notice held back part-way (paced, throttled, failed) goes on where it stopped when
        # its job runs again, or a group larger than the pace allows would never get past it.
        pending = [(e, p) for e, p in zip(events, progress, strict=True) if p not in self._accepted]
        self._throttle_if_resting(alias, len(pending), pace)
        where = f"pagerduty {self.name}/{alias}"
        for event, step in pending:
            if not pace.try_take():
                raise ChannelThrottled(f"{where}: paced", pace.next_token_in())
            try:
                await asyncio.to_thread(
                    client.send_event, event.action, dedup_key=event.dedup_key, **event.properties
                )
            except pagerduty.Error as exc:
                self._raise_for(exc, where, alias, event)
            self._accepted[step] = None
            if len(self._accepted) > _PROGRESS_KEPT:
                self._accepted.popitem(last=False)
        for step in progress:
            self._accepted.pop(step, None)
        keys = {one.alert_id: one.key for one in by_alert if one.key is not None}
        return Delivery(
            reference=by_alert[0].key if len(by_alert) == 1 else None,
            alert_references=keys,
        )

    def _raise_for(self, exc: pagerduty.Error, where: str, alias: str, event: _Event) -> None:
        status = _status(exc)
        if status is not None and 200 <= status < 300:
            # Accepted, though the body was not what the client expected: the event is in.
            log.warning("%s: %s accepted with an unexpected body", where, event.action)
            return
        reason = f"{where}: {event.action} {event.dedup_key}: {_describe(exc)}"
        if status == 429:
            headers = exc.response.headers if exc.response is not None else {}
            wait = parse_retry_after(headers.get("Retry-After"), self._clock())
            if wait is None:
                wait = self._config.throttle_wait.total_seconds()
            self._resting_until[alias] = self._monotonic() + wait
            raise ChannelThrottled(reason, wait) from None
        if status is None or status == 408 or status >= 500:
            raise ChannelError(reason) from None
        raise ChannelRejected(reason) from None

    async def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
