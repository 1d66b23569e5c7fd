"""PublishPressure: when publishers press, and how long a claim waits for its share."""

from __future__ import annotations

import asyncio

import pytest

from hookline.delivery.pressure import PublishPressure


class Clock:
    """The pressure's clock, moved by hand (the waits in real time stay short)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pressure(clock: Clock, **options: float) -> PublishPressure:
    return PublishPressure(
        pressing=int(options.get("pressing", 3)),
        share=int(options.get("share", 4)),
        hold=options.get("hold", 0.02),
        max_wait=options.get("max_wait", 60.0),
        clock=clock,
    )


def test_publishers_press_from_the_threshold_on_and_for_hold_seconds_after() -> None:
    clock = Clock()
    p = pressure(clock, hold=0.5)
    assert not p.pressing
    p.begin()
    p.begin()
    assert not p.pressing  # two at once, of three
    p.begin()
    assert p.pressing
    assert p.in_progress == 3
    for _ in range(3):
        p.end(1)
    assert p.in_progress == 0
    assert p.accepted == 3
    clock.now += 0.4
    assert p.pressing  # a group commit answers them all at once: still pressing
    clock.now += 0.2
    assert not p.pressing


def test_publishes_that_stay_stuck_stop_pressing_after_hold() -> None:
    # Only a publish that begins renews the pressure: stuck ones cannot hold delivery back.
    clock = Clock()
    p = pressure(clock, hold=0.5)
    for _ in range(5):
        p.begin()
    assert p.pressing
    clock.now += 0.6
    assert p.in_progress == 5
    assert not p.pressing
    p.begin()
    assert p.pressing


async def test_a_claim_waits_for_share_events_per_delivery_while_publishers_press() -> None:
    clock = Clock()
    p = pressure(clock)
    for _ in range(3):
        p.begin()
    paced = asyncio.create_task(p.pace(5))  # 5 claimed: 20 events to wait for, from now
    await asyncio.sleep(0.01)
    p.end(19)
    await asyncio.sleep(0.1)  # several steps of `hold`, the clock standing still
    assert not paced.done()
    p.end(1)
    await asyncio.wait_for(paced, 1)
    assert p.accepted == 20


async def waiting_claim(p: PublishPressure, claimed: int) -> asyncio.Task[None]:
    """A claim of ``claimed`` paced while 3 publishes press, still waiting after 50 ms."""
    for _ in range(3):
        p.begin()
    paced = asyncio.create_task(p.pace(claimed))
    await asyncio.sleep(0.05)
    assert not paced.done()
    return paced


async def test_a_claim_waits_no_longer_once_publishers_stop_pressing() -> None:
    clock = Clock()
    p = pressure(clock, hold=0.02)
    paced = await waiting_claim(p, 100)
    clock.now += 1  # nobody pressed for a second: no answer comes to wake it, the step does
    await asyncio.wait_for(paced, 1)
    assert p.accepted == 0


async def test_a_claim_waits_at_most_max_wait() -> None:
    clock = Clock()
    p = pressure(clock, max_wait=5.0)
    paced = await waiting_claim(p, 100)
    clock.now += 5.0
    p.begin()  # pressing still, nothing accepted: only the deadline can end the wait
    await asyncio.wait_for(paced, 1)
    assert p.pressing


@pytest.mark.parametrize("claimed", [0, 50])
async def test_a_claim_goes_on_at_once_when_nobody_presses(claimed: int) -> None:
    p = pressure(Clock())
    p.begin()  # one publish of three: no pressure
    await asyncio.wait_for(p.pace(claimed), 0.5)
    assert not p.pressing
