"""The queue's depth for ``/metrics`` and the status page, without counting a huge queue on
every scrape.

Counting the live deliveries reads every one of them: about a millisecond per thousand, so
most of a second for a backlog of a million, which a scrape every few seconds (per API
process) would repeat endlessly, competing with the workers draining that very backlog. So a
count that took long is reused for a while: a hundred times as long as it took (a backlog of
a million is recounted about once a minute, spending ~1% of one core on it). A count that is
cheap (a normal queue) is never reused: the figures are then always exact and current. The
age of the oldest due delivery, the capacity signal, is read fresh every time (it is the
first entry of an index, cheap however long the queue).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

CHEAP = 0.05  # seconds: a count that took less is never reused
REUSE_FACTOR = 100.0  # a count that took t seconds is reused for REUSE_FACTOR * t seconds


class QueueCounts:
    """Live and due counts, reused for a while when counting was slow.

    Args:
        clock: monotonic seconds (the event loop's clock by default).
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._lock = asyncio.Lock()  # concurrent scrapes share one count
        self._value: tuple[int, int] | None = None
        self._reuse_until = 0.0

    async def read(self, count: Callable[[], Awaitable[tuple[int, int]]]) -> tuple[int, int]:
        """``(live, due)``: the last count if it is still to be reused, else ``count()``."""
        async with self._lock:
            started = self._now()
            if self._value is not None and started < self._reuse_until:
                return self._value
            self._value = value = await count()
            took = self._now() - started
            self._reuse_until = started + took * REUSE_FACTOR if took >= CHEAP else 0.0
            return value

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()
