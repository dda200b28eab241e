"""Failed authentication, limited per client address.

An address that keeps presenting bad credentials to the API is answered 429 for a while
instead of being allowed to guess on. The Alertmanager webhook is never limited this way:
Alertmanager drops a notification it gets a 4xx for, so there a bad credential stays a 401.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class AuthFailures:
    """At most ``limit`` failed authentications per address in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, max_addresses: int = 10_000) -> None:
        self._limit = limit
        self._window = window
        self._max_addresses = max_addresses  # memory stays bounded under a spray of addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str, now: float | None = None) -> float | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        times = self._failures.get(address)
        if times is None:
            return None
        now = time.monotonic() if now is None else now
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        if len(times) < self._limit:
            return None
        return max(0.0, times[0] + self._window - now)

    def record(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        times = self._failures.get(address)
        if times is None:
            if len(self._failures) >= self._max_addresses:
                self._failures.popitem(last=False)  # forget the longest-quiet address
            times = self._failures[address] = deque(maxlen=self._limit)
        else:
            self._failures.move_to_end(address)
        times.append(now)
