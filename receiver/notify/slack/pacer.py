"""Calling Slack's Web API for the ``slack`` channel: posts paced per Slack channel, and
Slack's answers translated into the channel errors the job runner understands.

Slack asks for at most one message a second to a channel and answers more with HTTP 429 and a
``Retry-After``. The ``Pacer`` keeps to the first and remembers the second, so a job waits
(``ChannelThrottled``) without spending an attempt or tripping the breaker.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError

from receiver.notify.base import ChannelError, ChannelRejected, ChannelThrottled

__all__ = ["Pacer", "slack_call"]

# Slack errors that say the request may work later; any other error code is final.
_TRANSIENT: Final = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)


class Pacer:
    """At most one post per ``interval`` per Slack channel, and nothing to a channel while
    Slack's ``Retry-After`` runs. Per process, like the other limits."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._next_post: dict[str, float] = {}
        self._held_until: dict[str, float] = {}

    def held(self, channel: str) -> float:
        """Seconds Slack asked us to wait before calling about ``channel`` again."""
        return max(0.0, self._held_until.get(channel, 0.0) - self._clock())

    def take_post(self, channel: str) -> float:
        """Reserve the next post slot: 0 when it may go now, else the seconds to wait."""
        now = self._clock()
        wait = max(self.held(channel), self._next_post.get(channel, 0.0) - now)
        if wait > 0:
            return wait
        self._next_post[channel] = now + self._interval
        return 0.0

    def hold(self, channel: str, seconds: float) -> None:
        self._held_until[channel] = max(self._held_until.get(channel, 0.0), self._clock() + seconds)


def _retry_after(error: SlackApiError) -> float:
    headers: Any = getattr(error.response, "headers", {}) or {}
    raw = headers.get("Retry-After") or headers.get("retry-after") or "1"
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 1.0


async def slack_call(
    where: str,
    call: Awaitable[Any],
    *,
    pacer: Pacer | None = None,
    channel: str = "",
) -> Any:
    """Await a Web API call, translating Slack's answers into the channel errors: 429 →
    ``ChannelThrottled`` (and the channel held), 5xx and transient codes → ``ChannelError``,
    other error codes (``channel_not_found``, ``invalid_auth``…) → ``ChannelRejected``."""
    try:
        return await call
    except SlackApiError as exc:
        response = exc.response
        status = getattr(response, "status_code", 0)
        data = getattr(response, "data", None)
        code = data.get("error", "") if isinstance(data, dict) else ""
        reason = f"{where}: HTTP {status}" + (f": {code}" if code else "")
        if status == 429 or code == "ratelimited":
            seconds = _retry_after(exc)
            if pacer is not None and channel:
                pacer.hold(channel, seconds)
            raise ChannelThrottled(reason, seconds) from None
        if status >= 500 or code in _TRANSIENT:
            raise ChannelError(reason) from None
        raise ChannelRejected(reason) from None
    except TimeoutError:
        raise ChannelError(f"{where}: no answer in time") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise ChannelError(f"{where}: {exc or type(exc).__name__}") from None
