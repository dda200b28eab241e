"""Circuit breakers: stop hammering a channel target that keeps failing, probe it now and then.

One breaker per (channel, target), per replica. The job runner asks ``allow()`` before a send;
when it says no, the job is put back for ``retry_in()`` seconds without counting an attempt, so
an outage of one target neither burns every job's retry budget nor ties up workers.

States::

    CLOSED --failure_threshold consecutive failures--> OPEN
    OPEN --open_cooldown elapsed--> HALF_OPEN
    HALF_OPEN --half_open_probe_count consecutive successes--> CLOSED
    HALF_OPEN --any failure--> OPEN (the cooldown starts again)

While HALF_OPEN at most ``half_open_probe_count`` calls are in flight at once. Every call that
``allow()`` let through must end in ``record_success()``, ``record_failure()`` or, when the
outcome says nothing about the target's health (HTTP 429, cancellation), ``release()``;
a probe that never reports back gives its slot up after ``open_cooldown`` seconds, so a
crashed caller cannot wedge the breaker half-open.

Time comes from the injected ``clock`` (monotonic seconds), so tests move it by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

__all__ = ["BreakerRegistry", "BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls flow; consecutive failures are counted
    OPEN = "open"  # calls are refused until the cooldown has passed
    HALF_OPEN = "half_open"  # a few probe calls decide between CLOSED and OPEN


class CircuitBreaker:
    """The state machine of one (channel, target). Not thread-safe: one event loop owns it."""

    def __init__(
        self,
        failure_threshold: int = 5,
        open_cooldown: float = 60.0,
        half_open_probe_count: int = 3,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if open_cooldown <= 0:
            raise ValueError("open_cooldown must be positive")
        if half_open_probe_count < 1:
            raise ValueError("half_open_probe_count must be at least 1")
        self.failure_threshold = failure_threshold
        self.open_cooldown = open_cooldown
        self.half_open_probe_count = half_open_probe_count
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0  # consecutive, while CLOSED; what opened it, afterwards
        self._opened_at: float | None = None
        self._successes = 0  # consecutive probe successes while HALF_OPEN
        self._probes: list[float] = []  # start times of probes in flight while HALF_OPEN

    # --- transitions ----------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Apply the transitions that only need time to pass."""
        if self._state is BreakerState.OPEN:
            assert self._opened_at is not None
            if now - self._opened_at >= self.open_cooldown:
                self._state = BreakerState.HALF_OPEN
                self._successes = 0
                self._probes = []
        if self._state is BreakerState.HALF_OPEN:
            # Probes whose caller never reported back stop holding a slot.
            self._probes = [t for t in self._probes if now - t < self.open_cooldown]

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._successes = 0
        self._probes = []

    def _end_probe(self) -> None:
        if self._probes:
            self._probes.pop(0)

    # --- API ------------------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        self._advance(self._clock())
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted while CLOSED (kept as they were once it opened)."""
        return self._failures

    def allow(self) -> bool:
        """Whether a call may go ahead now. In HALF_OPEN a ``True`` takes a probe slot, which
        the caller gives back through ``record_success``/``record_failure``/``release``."""
        now = self._clock()
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            return False
        if len(self._probes) < self.half_open_probe_count:
            self._probes.append(now)
            return True
        return False

    def record_success(self) -> None:
        """The call worked. Ignored while OPEN: it was let through before the breaker opened,
        and only probes decide when to close."""
        self._advance(self._clock())
        if self._state is BreakerState.CLOSED:
            self._failures = 0
        elif self._state is BreakerState.HALF_OPEN:
            self._end_probe()
            self._successes += 1
            if self._successes >= self.half_open_probe_count:
                self._state = BreakerState.CLOSED
                self._failures = 0
                self._opened_at = None
                self._successes = 0
                self._probes = []

    def record_failure(self) -> None:
        """The call failed in a way that says the target is unhealthy (not a 429, not a
        rejected notice). Ignored while OPEN, so a late failure does not extend the cooldown."""
        now = self._clock()
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open(now)
        elif self._state is BreakerState.HALF_OPEN:
            self._open(now)

    def release(self) -> None:
        """The call ended without a verdict on the target (throttled, cancelled): give its
        probe slot back without counting a success or a failure."""
        self._advance(self._clock())
        if self._state is BreakerState.HALF_OPEN:
            self._end_probe()

    def retry_in(self) -> float:
        """Seconds until ``allow()`` may say yes: 0 when it would now; while OPEN the rest of
        the cooldown; while HALF_OPEN with every slot taken, until the oldest probe's slot
        expires (a report back frees one sooner)."""
        now = self._clock()
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            return 0.0
        if self._state is BreakerState.OPEN:
            assert self._opened_at is not None
            # Clamped: float sums such as opened_at + cooldown - now can land a hair above it.
            return min(self.open_cooldown, max(0.0, self._opened_at + self.open_cooldown - now))
        if len(self._probes) < self.half_open_probe_count:
            return 0.0
        return max(0.0, self._probes[0] + self.open_cooldown - now)

    def snapshot(self) -> dict[str, Any]:
        """The state for the ops API: ``state``, ``failures``, ``opened_seconds_ago`` (``None``
        unless OPEN or HALF_OPEN), ``retry_in``, ``probes_in_flight``, ``probe_successes``."""
        now = self._clock()
        self._advance(now)
        opened = None if self._opened_at is None else max(0.0, now - self._opened_at)
        return {
            "state": self._state.value,
            "failures": self._failures,
            "opened_seconds_ago": opened,
            "retry_in": self.retry_in(),
            "probes_in_flight": len(self._probes),
            "probe_successes": self._successes,
        }


class BreakerRegistry:
    """The breakers of one replica, made on first use by ``factory(channel, target)`` (so each
    channel can have its own settings) and keyed by (channel name, target)."""

    def __init__(
        self, factory: Callable[[str, str], CircuitBreaker] = lambda _c, _t: CircuitBreaker()
    ) -> None:
        self._factory = factory
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}

    def get(self, channel: str, target: str) -> CircuitBreaker:
        key = (channel, target)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = self._factory(channel, target)
        return breaker

    def __len__(self) -> int:
        return len(self._breakers)

    def snapshot(self) -> list[dict[str, Any]]:
        """One entry per breaker, ordered by channel then target: ``channel``, ``target`` and
        the breaker's ``snapshot()``."""
        return [
            {"channel": channel, "target": target, **breaker.snapshot()}
            for (channel, target), breaker in sorted(self._breakers.items(), key=lambda i: i[0])
        ]
