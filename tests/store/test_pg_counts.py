"""QueueCounts: a slow count of a huge queue is reused for a while, a cheap one never.

The clock is fake: each count "takes" as long as the test says, and no test waits.
"""

from __future__ import annotations

from hookline.store.pg_counts import CHEAP, REUSE_FACTOR, QueueCounts


class Queue:
    """A count whose cost and answer the test sets, on a fake monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.cost = 0.0
        self.live = 0
        self.counted = 0

    def clock(self) -> float:
        return self.now

    async def count(self) -> tuple[int, int]:
        self.now += self.cost
        self.counted += 1
        return self.live, self.live // 2


async def test_a_cheap_count_is_never_reused() -> None:
    queue = Queue()
    counts = QueueCounts(queue.clock)
    queue.cost = CHEAP / 2
    for live in (10, 11, 12):
        queue.live = live
        assert await counts.read(queue.count) == (live, live // 2)
    assert queue.counted == 3


async def test_a_slow_count_is_reused_for_a_hundred_times_its_cost() -> None:
    queue = Queue()
    counts = QueueCounts(queue.clock)
    queue.cost, queue.live = 0.8, 1_000_000  # a million rows: most of a second
    assert await counts.read(queue.count) == (1_000_000, 500_000)
    queue.live = 999_000
    queue.now += 0.8 * REUSE_FACTOR - 1.0  # just before the reuse ends (counted from start)
    assert await counts.read(queue.count) == (1_000_000, 500_000)
    assert queue.counted == 1
    queue.now += 0.3  # just after
    assert await counts.read(queue.count) == (999_000, 499_500)
    assert queue.counted == 2
    # Drained: the next count is cheap, and from then on every read counts again.
    queue.now += 0.8 * REUSE_FACTOR
    queue.cost, queue.live = 0.001, 4
    assert await counts.read(queue.count) == (4, 2)
    queue.live = 0
    assert await counts.read(queue.count) == (0, 0)
    assert queue.counted == 4
