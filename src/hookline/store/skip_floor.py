"""Where a claim that skips full endpoints can start reading the due index (both stores).

The engine leaves out endpoints whose waiting line is full (a hanging receiver's, typically).
Their due deliveries stay at the head of ``deliveries_due``, and every claim read past all of
them before reaching one it could take: with 10,000 of a hanging endpoint's deliveries waiting,
2.4 ms a claim on SQLite (found in scenario 7 of the benchmark: 27 % of the SQLite thread), and
8.8 ms of PostgreSQL's time a claim with 20,000 (every claim of every worker).

After a claim, every row due before the oldest one it took is a skipped endpoint's or cannot
be claimed yet (in flight, locked by another worker's claim, or its webhook or tenant is
disabled). So while the skipped set stays the same or grows, the next claim starts there.
Nothing written later is due before it: publishes, retries, resends and give-backs are all due
at their own time or after. What can become claimable behind it is a lease that runs out, a
webhook or tenant enabled again, a row another worker's claim let go (its transaction failed)
and, with several machines, a row written by a machine whose clock is behind this one's. The
floor is forgotten when this store enables a webhook or tenant (:meth:`forget`), and whatever
happens it lasts at most :data:`REFRESH_MS`: then one claim reads the whole index again. So
such a delivery waits two seconds more at most, and only while its worker skips an endpoint.

One floor per store object: on SQLite the one process that owns the file; on PostgreSQL each
process keeps its own (each worker has its own skipped set).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

REFRESH_MS = 2_000
NONE = -(2**62)  # no floor: below every due time


@dataclass(frozen=True)
class _Floor:
    skipped: frozenset[str]
    due_ms: int
    since_ms: int


class SkipFloor:
    """The floor for the claims of one store object (times in epoch milliseconds)."""

    def __init__(self) -> None:
        self._floor: _Floor | None = None

    def start(self, skip: Sequence[str], now_ms: int) -> int:
        """The due time this claim may start from (:data:`NONE`: the head of the index)."""
        floor = self._floor
        if (
            not skip
            or floor is None
            or not floor.skipped.issubset(skip)
            or not 0 <= now_ms - floor.since_ms <= REFRESH_MS
        ):
            return NONE
        return floor.due_ms

    def claimed(
        self, skip: Sequence[str], start_ms: int, oldest_ms: int | None, now_ms: int
    ) -> None:
        """After a claim from ``start_ms``; ``oldest_ms``: the due time of the oldest row taken."""
        if not skip:
            self._floor = None
        elif oldest_ms is not None:
            since = now_ms if start_ms == NONE or self._floor is None else self._floor.since_ms
            self._floor = _Floor(frozenset(skip), oldest_ms, since)
        elif start_ms == NONE:
            self._floor = None  # nothing at all to take: no floor to keep

    def forget(self) -> None:
        """A webhook or tenant changed: rows behind the floor may be claimable again."""
        self._floor = None
