"""Token buckets that cap how many notices a channel sends, per replica.

A bucket holds up to ``burst`` tokens and refills at ``per_minute`` tokens a minute; each send
takes one. What a full bucket refuses is not lost: the caller holds it back and later sends a
digest (``NoticeKind.DIGEST``) saying how many were held. Limits are per replica, so N replicas
together may send up to N times the configured rate; the point is to keep one storm from
flooding a pager or a chat channel, not to enforce a contract.

Time comes from the injected ``clock`` (monotonic seconds), so tests move it by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = ["UNLIMITED", "Limiter", "RateLimit", "RateLimiters", "TokenBucket", "Unlimited"]

# Refill arithmetic in floats can leave 0.9999999999 tokens exactly when next_token_in() said a
# token would be there; this much short of a whole token still counts as one.
_EPSILON: Final = 1e-9


class TokenBucket:
    """Starts full. Not thread-safe: one event loop owns it."""

    def __init__(
        self, per_minute: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not per_minute > 0:  # also refuses NaN
            raise ValueError("per_minute must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.per_minute = per_minute
        self.burst = burst
        self._rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        # max(0): an injected clock that steps back must not drain the bucket.
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self._rate)
        self._updated = now

    @property
    def tokens(self) -> float:
        """Tokens available now (fractional while refilling)."""
        self._refill()
        return self._tokens

    def try_take(self) -> bool:
        """Take a token if there is one; ``False`` means hold this send back."""
        self._refill()
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def next_token_in(self) -> float:
        """Seconds until ``try_take()`` would succeed: 0 when it would now."""
        self._refill()
        missing = 1.0 - self._tokens
        if missing <= _EPSILON:
            return 0.0
        return missing / self._rate


class Limiter(Protocol):
    """What a caller needs of a channel's limit: a ``TokenBucket`` or ``UNLIMITED``."""

    def try_take(self) -> bool: ...

    def next_token_in(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Unlimited:
    """The limit of a channel that has none: always a token, never a wait."""

    def try_take(self) -> bool:
        return True

    def next_token_in(self) -> float:
        return 0.0


UNLIMITED: Final = Unlimited()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A channel's limit: ``per_minute`` sustained, ``burst`` at once."""

    per_minute: float
    burst: int


class RateLimiters:
    """One bucket per rate-limited channel of this replica; a channel without a configured limit
    is never held back."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        for channel, limit in (limits or {}).items():
            self.configure(channel, limit)

    def configure(self, channel: str, limit: RateLimit | None) -> None:
        """Set (or with ``None`` remove) a channel's limit; a new limit starts with a full
        bucket."""
        if limit is None:
            self._buckets.pop(channel, None)
        else:
            self._buckets[channel] = TokenBucket(limit.per_minute, limit.burst, clock=self._clock)

    def get(self, channel: str) -> Limiter:
        """The channel's bucket, or ``UNLIMITED`` when it has no limit."""
        return self._buckets.get(channel, UNLIMITED)

    def bucket(self, channel: str) -> TokenBucket | None:
        """The channel's bucket, ``None`` when it has no limit."""
        return self._buckets.get(channel)

    def try_take(self, channel: str) -> bool:
        return self.get(channel).try_take()

    def next_token_in(self, channel: str) -> float:
        return self.get(channel).next_token_in()

    def snapshot(self) -> list[dict[str, Any]]:
        """One entry per limited channel: ``channel``, ``per_minute``, ``burst``, ``tokens``,
        ``next_token_in``."""
        return [
            {
                "channel": channel,
                "per_minute": bucket.per_minute,
                "burst": bucket.burst,
                "tokens": round(bucket.tokens, 3),
                "next_token_in": bucket.next_token_in(),
            }
            for channel, bucket in sorted(self._buckets.items())
        ]
