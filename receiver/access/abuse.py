"""Failed authentication, limited per client address.

Once an address has failed ``limit`` times in ``window`` seconds, its further failures are
answered 429 with a Retry-After instead of 401. Only failures are: a request with a valid
credential is always served, so whoever shares the address (a NAT, a proxy Firebreak does not
trust) is never locked out by a neighbour. The limit slows a misbehaving client down and makes
it visible (``firebreak_http_requests_total{code="429"}``); what keeps tokens from being guessed
is their length (check-config refuses short ones on a public address). The Alertmanager webhook,
/health and /metrics are never limited (see ``web/middleware.py``).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class AuthFailures:
    """At most ``limit`` failed authentications per address in any ``window`` seconds, counted
    by ``monotonic`` (the application's)."""

    def __init__(
        self,
        limit: int,
        window: float,
        max_addresses: int = 10_000,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._monotonic = monotonic
        self._max_addresses = max_addresses  # memory stays bounded under a spray of addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        times = self._failures.get(address)
        if times is None:
            return None
        now = self._monotonic()
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        if len(times) < self._limit:
            return None
        return max(0.0, times[0] + self._window - now)

    def record(self, address: str) -> None:
        now = self._monotonic()
        times = self._failures.get(address)
        if times is None:
            if len(self._failures) >= self._max_addresses:
                self._failures.popitem(last=False)  # forget the longest-quiet address
            times = self._failures[address] = deque(maxlen=self._limit)
        else:
            self._failures.move_to_end(address)
        times.append(now)
