"""A token bucket per key, in memory (per process): enough to stop the test endpoint being
used as a port scanner."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """``capacity`` calls at once, refilled at ``per_minute`` calls a minute, per key."""

    def __init__(
        self,
        capacity: int = 10,
        per_minute: float = 20.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(capacity)
        self._rate = per_minute / 60.0
        self._now = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        """Take one token for ``key`` if there is one."""
        now = self._now()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:  # bounded memory: forget idle keys
            self._buckets = {k: v for k, v in self._buckets.items() if v[1] > now - 300}
        return True
