"""Reading requests: bounded, uncompressed bodies, JSON objects and optional text fields, and the
limits of the text fields several handlers take."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from receiver.errors import InvalidInput, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from receiver.model import MAX_ID
from receiver.typedefs import CONFIG

_CHUNK = 64 * 1024


def is_id(value: object) -> bool:
    """Whether a JSON value is an integer that may be a database id."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


# What an encoding's name may look like to be named back in an error (and so in a log line).
_ENCODING_NAME = re.compile(r"[A-Za-z0-9._+-]{1,32}")


def refuse_encoded(request: web.Request) -> None:
    """415 for a body sent with a ``Content-Encoding``: the server never inflates one.

    Alertmanager, Slack and PagerDuty send their bodies uncompressed, and the few bytes an API
    client could save are not worth inflating what an unauthenticated caller sent (a small
    gzip bomb inflates to gigabytes). Slack's and PagerDuty's signatures are over these raw
    bytes.
    """
    encoding = request.headers.get("Content-Encoding", "").strip()
    if encoding and encoding.lower() != "identity":
        name = encoding if _ENCODING_NAME.fullmatch(encoding) else "an unknown encoding"
        raise UnsupportedMediaType(
            f"Content-Encoding {name} is not accepted: send the body uncompressed"
        )


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body as sent, refusing a compressed one (415), anything over ``limit`` bytes
    without reading the rest (413), and a client that trickles it in slower than
    ``api.body_timeout`` (408). Handlers authenticate before they call it."""
    refuse_encoded(request)
    declared = request.content_length
    if declared is not None and request.content.is_eof():
        # All of it came in with the headers (as a webhook's usually does): nothing to wait
        # for, so no timer to arm and cancel.
        return _buffered_body(request, declared, limit)
    timeout = request.app[CONFIG].api.body_timeout.total_seconds()
    try:
        async with asyncio.timeout(timeout):
            return await _read_body(request, limit)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout:g}s") from None


def _buffered_body(request: web.Request, declared: int, limit: int) -> bytes:
    """The body, all of it already received, as ``_read_body`` answers for it."""
    if declared > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    body = request.content.read_nowait(declared) if declared else b""
    if len(body) < declared:
        raise InvalidInput("body", "the body ended before its Content-Length")
    return body


async def _read_body(request: web.Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None:
        if declared > limit:
            raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
        try:
            return await request.content.readexactly(declared) if declared else b""
        except asyncio.IncompleteReadError:
            raise InvalidInput("body", "the body ended before its Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)


def require_json(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"expected Content-Type application/json, got {request.content_type or 'none'}"
        )


async def read_json_object(request: web.Request, limit: int) -> dict[str, Any]:
    """A JSON object body; an empty body counts as ``{}`` so optional fields stay optional."""
    body = await read_body(request, limit)
    if not body.strip():
        return {}
    require_json(request)
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"invalid JSON: {exc}") from None
    except RecursionError:  # the decoder recurses per level: a few KB of brackets exhaust it
        raise InvalidInput("body", "invalid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidInput("body", "expected a JSON object")
    return value


def optional_text(body: dict[str, Any], name: str, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(name, f"expected a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidInput(name, f"expected at most {max_length} characters, got {len(value)}")
    return value


REASON_LIMIT = 2000


NOTE_LIMIT = 4000
