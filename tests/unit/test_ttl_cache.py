"""The publish path's one-second cache (time is a fake clock here)."""

from __future__ import annotations

from hookline.services.access import TtlCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_for_its_ttl_only() -> None:
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(ttl=1.0, clock=clock)
    assert cache.get("a") is None
    cache.put("a", 1)
    clock.now += 0.999
    assert cache.get("a") == 1
    clock.now += 0.001
    assert cache.get("a") is None


def test_it_stays_bounded_and_can_be_cleared() -> None:
    cache: TtlCache[int, int] = TtlCache(ttl=60.0, size=3, clock=FakeClock())
    for i in range(3):
        cache.put(i, i)
    cache.put(3, 3)  # full: starts over rather than grow
    assert [cache.get(i) for i in range(4)] == [None, None, None, 3]
    cache.clear()
    assert cache.get(3) is None
