"""The ``webhook`` channel: POST each notice as signed JSON to an HTTP endpoint.

Request
-------
``POST <url>`` (or ``<target>`` when the target is an absolute http(s) URL) with headers::

    Content-Type: application/json
    User-Agent: Firebreak/<version>
    X-Firebreak-Idempotency-Key: <notice.idempotency_key>   (identical on every retry)
    X-Firebreak-Timestamp: <unix seconds when this attempt was made>
    X-Firebreak-Signature: sha256=<hex>                       (only when a secret is set)

and this UTF-8 JSON body (keys sorted; times RFC 3339 UTC; the body of one notice is the same
bytes on every attempt, only the timestamp and signature headers change)::

    {
      "version": "1",
      "kind": "firing" | "resolved" | "digest",
      "idempotency_key": "...",
      "group_key": "...", "route": "...", "escalation_policy": "...",
      "tier": 0 | null,          # 0-based tier of the escalation policy (firing notices)
      "repeat": 0,               # how many times the policy has started over
      "drill": false,
      "suppressed": 0,           # digest: notices the channel's rate limit held back
      "alerts": [{"id": 1, "fingerprint": "...", "status": "firing", "labels": {...},
                  "annotations": {...}, "starts_at": "2024-05-01T12:00:00Z",
                  "ends_at": null, "generator_url": "..."}]
    }

Signature
---------
``hex(HMAC-SHA256(key=secret as UTF-8, msg=timestamp + "." + body))`` where ``timestamp`` is the
``X-Firebreak-Timestamp`` header exactly as sent and ``body`` the raw request bytes. A receiver
recomputes it over the bytes it received (before any JSON parsing), compares in constant time,
and refuses a timestamp more than a few minutes from its own clock so a captured request cannot
be replayed later; ``verify_signature`` does all of that. The header may carry several
comma-separated ``sha256=`` values (room for secret rotation): any one matching is enough.
De-duplicate on ``X-Firebreak-Idempotency-Key``: a retried notice carries the same key.

Responses
---------
2xx is delivered (the reference is the ``X-Request-Id`` header, else an ``id`` in a JSON body);
429 is ``ChannelThrottled`` with ``Retry-After`` (seconds or an HTTP date); 408 and 5xx,
timeouts and connection errors are ``ChannelError`` (try again); any other 4xx is
``ChannelRejected``; so is a 3xx, because redirects are never followed: a POST carrying a signed
alert must not wander to another host. Error messages name the endpoint by scheme, host and
port only, because webhook URLs often carry a secret in their path or query.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from receiver import __version__
from receiver.alertmanager import format_rfc3339
from receiver.model import system_clock
from receiver.notify.base import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    Delivery,
    Notice,
    NoticeAlert,
)
from receiver.notify.templated import MessageTemplate

__all__ = [
    "BODY_VERSION",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Answer",
    "WebhookChannel",
    "encode_body",
    "http_url",
    "notice_payload",
    "origin",
    "parse_retry_after",
    "post",
    "sign",
    "verify_signature",
]

BODY_VERSION: Final = "1"
IDEMPOTENCY_HEADER: Final = "X-Firebreak-Idempotency-Key"
TIMESTAMP_HEADER: Final = "X-Firebreak-Timestamp"
SIGNATURE_HEADER: Final = "X-Firebreak-Signature"
SIGNATURE_PREFIX: Final = "sha256="
DEFAULT_TOLERANCE: Final = 300.0  # seconds a signed timestamp may be off the receiver's clock

_ERROR_BODY_CHARS: Final = 200  # of a failed response's body, quoted in the error
_READ_LIMIT: Final = 64 * 1024  # never read more of a response than this
_REFERENCE_CHARS: Final = 200  # a longer reference is not an id we should store
_TIMESTAMP_RE: Final = re.compile(r"[0-9]{1,12}")
_DELAY_SECONDS_RE: Final = re.compile(r"[0-9]{1,10}")
_OWN_HEADERS: Final = frozenset(
    h.lower()
    for h in (
        "Content-Type",
        "Content-Length",
        "Host",
        IDEMPOTENCY_HEADER,
        TIMESTAMP_HEADER,
        SIGNATURE_HEADER,
    )
)


# --- body and signature -------------------------------------------------------------------------


def alert_payload(alert: NoticeAlert) -> dict[str, Any]:
    """One alert as the webhook body (and message templates) show it."""
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        # dict(): orjson only serialises real dicts, and the model's mappings may be read-only
        # proxies.
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": format_rfc3339(alert.starts_at),
        "ends_at": None if alert.ends_at is None else format_rfc3339(alert.ends_at),
        "generator_url": alert.generator_url,
    }


def notice_payload(notice: Notice, text: str | None = None) -> dict[str, Any]:
    """The JSON document (version 1) a webhook receives for ``notice``; ``text`` is the
    channel's template output, when it has a template."""
    return {
        **({"text": text} if text is not None else {}),
        "version": BODY_VERSION,
        "kind": notice.kind.value,
        "idempotency_key": notice.idempotency_key,
        "group_key": notice.group_key,
        "route": notice.route,
        "escalation_policy": notice.escalation_policy,
        "tier": notice.tier,
        "repeat": notice.repeat,
        "drill": notice.drill,
        "suppressed": notice.suppressed,
        **({"message": notice.message} if notice.message else {}),
        "alerts": [alert_payload(a) for a in notice.alerts],
    }


def encode_body(notice: Notice, text: str | None = None) -> bytes:
    """The request body: ``notice_payload`` as compact UTF-8 JSON with sorted keys, so the
    same notice always gives the same bytes."""
    return orjson.dumps(notice_payload(notice, text), option=orjson.OPT_SORT_KEYS)


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Firebreak-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of
    ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | int | None,
    body: bytes,
    header: str | None,
    *,
    now: float | datetime,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Whether ``header`` (the ``X-Firebreak-Signature`` value) signs ``body`` at ``timestamp``
    (the ``X-Firebreak-Timestamp`` value) with ``secret``, and ``timestamp`` lies within
    ``tolerance`` seconds of ``now`` (unix seconds or an aware datetime). Comparison is in
    constant time; a missing or malformed header or timestamp is simply ``False``."""
    if not header or timestamp is None:
        return False
    text = str(timestamp)
    if not _TIMESTAMP_RE.fullmatch(text):  # ASCII digits only: int() would take "١٢" or " 1"
        return False
    now_seconds = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(now_seconds - int(text)) > tolerance:
        return False
    expected = sign(secret, text, body).encode("ascii")
    matched = False
    for candidate in header.split(","):
        # No early return: every candidate is compared, so timing says nothing about which.
        matched |= hmac.compare_digest(candidate.strip().encode("utf-8", "replace"), expected)
    return matched


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date (a date in
    the past gives 0). ``None`` when absent or unreadable. Not capped: the caller decides how
    long it is willing to wait."""
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS_RE.fullmatch(value):
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about local time (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# --- channel ------------------------------------------------------------------------------------


def http_url(text: str) -> URL | None:
    """``text`` as an absolute http(s) URL with a host, else ``None``."""
    try:
        url = URL(text)
    except (ValueError, TypeError):
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    return url


def origin(url: URL) -> str:
    """``scheme://host:port`` only: the path or query of a webhook URL is often a secret."""
    return str(url.origin())


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    text = " ".join(text.split())  # one line: it ends up in logs and in the job's last error
    if len(text) > _ERROR_BODY_CHARS:
        text = text[:_ERROR_BODY_CHARS] + "..."
    return text


async def _read_prefix(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the body: a hostile endpoint cannot make us buffer more."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reference(answer: Answer) -> str | None:
    """The far side's id for this delivery: ``X-Request-Id``, else ``id`` in a JSON object."""
    header = answer.headers.get("X-Request-Id", "").strip()
    if header:
        return header[:_REFERENCE_CHARS]
    body = answer.body
    if not body or "json" not in answer.content_type:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict):
        ident = document.get("id")
        if isinstance(ident, str | int) and not isinstance(ident, bool) and str(ident):
            return str(ident)[:_REFERENCE_CHARS]
    return None


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer: its headers, content type and (the first 64 KiB of) its body."""

    headers: Mapping[str, str]
    content_type: str
    body: bytes


async def post(
    session: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    headers: Mapping[str, str],
    *,
    where: str,
    limit: aiohttp.ClientTimeout,
    now: Callable[[], datetime],
) -> Answer:
    """POST ``body`` to ``url`` without following redirects and map the answer onto the
    channel errors: 2xx is returned; 429 is ``ChannelThrottled`` (with ``Retry-After``); 408,
    5xx, timeouts and connection errors are ``ChannelError``; a 3xx or any other 4xx is
    ``ChannelRejected``. ``where`` names the endpoint in errors (never its path or query)."""
    try:
        async with session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=limit,
            allow_redirects=False,
            raise_for_status=False,  # a shared session may say otherwise; we map statuses
        ) as response:
            status = response.status
            content = await _read_prefix(response, _READ_LIMIT)
            if 200 <= status < 300:
                return Answer(CIMultiDict(response.headers), response.content_type, content)
            retry_after = response.headers.get("Retry-After")
    except TimeoutError:
        raise ChannelError(f"{where}: no answer within {limit.total:g}s") from None
    except aiohttp.InvalidURL as exc:
        raise ChannelRejected(f"{where}: invalid URL ({exc.__class__.__name__})") from None
    except aiohttp.ClientError as exc:
        detail = str(exc) or exc.__class__.__name__
        raise ChannelError(f"{where}: {detail}") from None
    except OSError as exc:  # e.g. a TLS failure not wrapped by aiohttp
        raise ChannelError(f"{where}: {exc}") from None
    reason = f"{where}: HTTP {status}"
    snippet = _snippet(content)
    if snippet:
        reason += f": {snippet}"
    if status == 429:
        raise ChannelThrottled(reason, parse_retry_after(retry_after, now()))
    if 300 <= status < 400:
        raise ChannelRejected(f"{where}: HTTP {status}: redirects are not followed")
    # 408: the server gave up waiting for our request, which says nothing about the notice.
    if status == 408 or status >= 500:
        raise ChannelError(reason)
    raise ChannelRejected(reason)


class WebhookChannel:
    """POSTs notices as signed JSON; see the module docstring for the wire format."""

    kind = "webhook"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        secret: str | None = None,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = system_clock,
        template: MessageTemplate | None = None,
    ) -> None:
        """``session`` is shared and stays the caller's to close; without one the channel
        makes its own on first use and closes it in ``close()``. ``headers`` are sent with
        every request; they cannot replace the content type or the Firebreak headers.
        ``template`` adds a ``text`` field (its plain-text output) to the body."""
        parsed = http_url(url)
        if parsed is None:
            raise ValueError(f"webhook channel {name}: url must be an absolute http(s) URL")
        if timeout <= 0:
            raise ValueError(f"webhook channel {name}: timeout must be positive")
        self.name = name
        self.url = parsed
        self._session = session
        self._owns_session = session is None
        self._secret = secret or None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {k: v for k, v in (headers or {}).items() if k.lower() not in _OWN_HEADERS}
        if not any(k.lower() == "user-agent" for k in self._headers):
            self._headers["User-Agent"] = f"Firebreak/{__version__}"
        self._clock = clock
        self._template = template

    def body(self, notice: Notice) -> bytes:
        """The request body for ``notice``; a failed template leaves ``text`` out, and the
        failure is logged and counted by the template."""
        text = None
        if self._template is not None:
            text = self._template(notice, "text").text
        return encode_body(notice, text)

    def _destination(self, target: str) -> URL:
        """The target when it is an absolute http(s) URL; otherwise the configured URL."""
        if target:
            url = http_url(target.strip())
            if url is not None:
                return url
        return self.url

    def _request_headers(self, notice: Notice, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._clock().timestamp()))
        headers = dict(self._headers)
        headers["Content-Type"] = "application/json"
        headers[IDEMPOTENCY_HEADER] = notice.idempotency_key
        headers[TIMESTAMP_HEADER] = timestamp
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        return headers

    async def send(self, notice: Notice, target: str) -> Delivery:
        url = self._destination(target)
        body = self.body(notice)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        answer = await post(
            self._session,
            url,
            body,
            self._request_headers(notice, body),
            where=f"webhook {self.name} ({origin(url)})",
            limit=self._timeout,
            now=self._clock,
        )
        return Delivery(reference=_reference(answer))

    async def close(self) -> None:
        """Close the session when the channel made it; a shared session is left open."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
