"""Slot accounting (pure): caps, stalled endpoints, waiting lines, skipped webhooks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hookline.delivery import slots as slots_module
from hookline.delivery.slots import GIVE_BACK, START, WAIT, Slots
from hookline.domain.deliveries import ClaimedDelivery, Trigger
from hookline.domain.times import utcnow

NOW = utcnow()
LEASE = NOW + timedelta(seconds=10)


def delivery(n: int, host: str, webhook: str | None = None) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=f"dlv_{host}_{n}",
        tenant_id="ten_1",
        webhook_id=webhook or f"whk_{host}",
        event_id=f"evt_{n}",
        event="ReportPublished",
        client_cuid=None,
        trigger=Trigger.EVENT,
        attempts=0,
        lease_token="t",
        url=f"https://{host}.example.com/hook",
        secret_ciphertext=None,
        ssl_verification=True,
        body=b"{}",
    )


def fill(slots: Slots, host: str, count: int, start: int = 0) -> list[str]:
    return [slots.admit(delivery(start + i, host), LEASE, NOW).decision for i in range(count)]


def test_an_endpoint_gets_its_cap_and_the_rest_waits_then_starts_as_slots_free() -> None:
    slots = Slots(concurrency=100, per_endpoint=4, lease_margin=2.0)
    assert fill(slots, "a", 6) == [START] * 4 + [WAIT] * 2
    assert slots.in_flight == 4
    assert slots.waiting == 2
    slots.release("https://a.example.com:", timed_out=False)
    ready = slots.ready(NOW, "https://a.example.com:")
    assert [d.id for d, _ in ready] == ["dlv_a_4"]
    assert (slots.in_flight, slots.waiting) == (4, 1)


def test_a_full_line_blocks_its_webhooks_until_it_is_half_empty() -> None:
    slots = Slots(concurrency=1000, per_endpoint=2, lease_margin=2.0, overshoot=3)
    fill(slots, "a", 2 + 8)  # 2 in flight, a line of 4 x 2 = 8: full
    assert slots.skipped_webhooks() == ["whk_a"]
    # Past a full line plus the overshoot, deliveries are given back.
    assert fill(slots, "a", 4, start=100) == [WAIT] * 3 + [GIVE_BACK]
    assert slots.skipped_webhooks() == ["whk_a"]
    key = "https://a.example.com:"
    for _ in range(6):
        slots.release(key, timed_out=False)
        slots.ready(NOW, key)
    assert slots.waiting == 5
    assert slots.skipped_webhooks() == ["whk_a"]
    assert not slots.unblocked()
    slots.release(key, timed_out=False)
    slots.ready(NOW, key)
    assert slots.waiting == 4  # half of the line
    assert slots.unblocked()
    assert slots.skipped_webhooks() == []


def test_an_endpoint_that_times_out_gets_few_slots_until_an_attempt_ends_otherwise() -> None:
    slots = Slots(concurrency=100, per_endpoint=16, lease_margin=2.0)  # stalled: 16 // 8 = 2
    key = "https://slow.example.com:"
    assert fill(slots, "slow", 16) == [START] * 16
    slots.release(key, timed_out=True)
    assert slots.is_stalled("https://slow.example.com/x")
    assert slots.ready(NOW, key) == []  # 15 still in flight, far above 2
    assert fill(slots, "slow", 1, start=50) == [WAIT]
    for _ in range(14):
        slots.release(key, timed_out=True)
    assert slots.in_flight == 1
    assert len(slots.ready(NOW, key)) == 1  # back up to the stalled cap of 2
    slots.release(key, timed_out=False)  # it answered: a normal endpoint again
    assert not slots.is_stalled("https://slow.example.com/x")
    assert fill(slots, "slow", 10, start=60) == [START] * 10


def test_hanging_endpoints_never_hold_every_slot() -> None:
    """Four endpoints with a quarter of the slots each used to fill the global cap: once they
    time out, they get one slot each (and at most half of all slots together), and a healthy
    endpoint gets the rest."""
    slots = Slots(concurrency=16, per_endpoint=4, lease_margin=2.0, stalled_cap=3)
    hanging = [f"h{i}" for i in range(4)]
    for host in hanging:
        fill(slots, host, 4)
    assert slots.in_flight == 16
    assert fill(slots, "healthy", 1) == [WAIT]  # the global cap is full
    for host in hanging:
        fill(slots, host, 4, start=10)  # more for them, waiting
        for _ in range(4):
            slots.release(f"https://{host}.example.com:", timed_out=True)
    started = slots.ready(NOW)
    assert "dlv_healthy_0" in [d.id for d, _ in started]
    # Stalled: 3 slots each would be 12; half of the global cap is the limit for all of them.
    assert slots.in_flight - 1 == 8
    assert fill(slots, "healthy", 4, start=1) == [START] * 3 + [WAIT]  # its own cap: 4
    assert slots.in_flight == 8 + 4


def test_waiting_deliveries_with_a_short_lease_are_dropped_not_started() -> None:
    slots = Slots(concurrency=100, per_endpoint=1, lease_margin=5.0)
    key = "https://a.example.com:"
    assert fill(slots, "a", 3) == [START, WAIT, WAIT]
    later = NOW + timedelta(seconds=6)  # 4 s of lease left, 5 needed for an attempt
    slots.release(key, timed_out=False)
    assert slots.ready(later, key) == []
    assert slots.waiting == 0
    assert slots.in_flight == 0
    # And a delivery whose lease is already too short does not wait at all.
    assert slots.admit(delivery(9, "b"), NOW + timedelta(seconds=1), NOW).decision == START
    assert slots.admit(delivery(10, "b"), NOW + timedelta(seconds=1), NOW).decision == GIVE_BACK


def test_credit_is_free_slots_whatever_waits() -> None:
    slots = Slots(concurrency=20, per_endpoint=1, lease_margin=2.0, overshoot=10)
    fill(slots, "hang", 1 + 4)  # 1 in flight, a full line of 4: blocked
    fill(slots, "ok", 2)  # 1 in flight, 1 waiting
    assert slots.credit() == 20 - 2
    drained = slots.drain_waiting()
    assert len(drained) == 5
    assert slots.waiting == 0
    assert slots.skipped_webhooks() == []


def test_endpoints_are_told_apart_the_same_once_the_url_cache_is_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(slots_module, "_KEYS_MAX", 3)
    slots = Slots(concurrency=100, per_endpoint=2, lease_margin=2.0)
    hosts = ["a", "b", "c", "d", "e"]  # more URLs than the cache holds: it is emptied once
    for _ in range(2):
        for host in hosts:
            assert slots.admit(delivery(0, host), LEASE, NOW).decision == START
    # Each host is still its own endpoint with its own cap of 2 (the cache never mixed them).
    for host in hosts:
        assert slots.admit(delivery(1, host), LEASE, NOW).decision == WAIT
    assert slots.in_flight == 10
    assert len(slots._keys) <= 3
