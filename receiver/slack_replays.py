"""Slack's signed requests: verified on the raw body before anything reads it, and each taken
once.

Slack signs every request it sends to the app: ``X-Slack-Signature`` is ``v0=`` and the hex
HMAC-SHA256 of ``v0:<X-Slack-Request-Timestamp>:<raw body>`` under the signing secret, and a
timestamp more than five minutes from our clock is refused (Slack's advice; slack_sdk's
``SignatureVerifier``, which bolt uses too, applies the same window). Within the window a
captured request would verify again, and not every command or button is idempotent by itself.
So a verified request is recorded by its signature (the store's ``slack_requests``) before a
listener sees it, and one recorded before is refused (409) and changes nothing. The record is
in the database, so the refusal holds on every replica and after a restart. A row goes once its
request is outside the window (refused by its timestamp from then on), so the table holds one
window's worth of Slack's own requests, and nothing from a caller without the signing secret.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from slack_sdk.signature import Clock, SignatureVerifier

from receiver.errors import Conflict, Unauthenticated
from receiver.store import Store
from receiver.store.slack_requests import first_sight, seen_before

__all__ = ["WINDOW", "take_once"]

log = logging.getLogger("firebreak.slack")

WINDOW: Final = timedelta(minutes=5)  # Slack's: a timestamp further from our clock is refused
# Seconds since the epoch, as Slack sends them: anything else is refused before int() sees it.
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")


class _Wall(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


async def take_once(
    store: Store,
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    wall: Callable[[], float] = time.time,
) -> None:
    """Refuse a request whose signature or timestamp is wrong or missing (``Unauthenticated``,
    401), and one received before (``Conflict``, 409); record it otherwise. ``wall`` is the
    wall clock Slack's timestamps are compared with."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    verifier = SignatureVerifier(secret, clock=_Wall(wall))
    if not _TIMESTAMP.fullmatch(timestamp) or not verifier.is_valid(body, timestamp, signature):
        raise Unauthenticated(
            "the Slack request's X-Slack-Signature or X-Slack-Request-Timestamp is wrong, "
            "missing or more than five minutes off"
        )
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    now = datetime.fromtimestamp(wall(), UTC)
    # Read first: a flood of one captured request costs reads, not writes.
    async with store.connection() as conn:
        first = not await seen_before(conn, signature)
    if first:
        async with store.transaction() as conn:
            first = await first_sight(conn, signature, signed_at, signed_at + WINDOW, now)
    if not first:
        log.warning("a Slack request received before was sent again: refused")
        raise Conflict("this Slack request was received before; sent again, it changes nothing")
