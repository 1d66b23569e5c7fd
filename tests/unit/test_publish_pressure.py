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
        pressing_events=int(options.get("pressing_events", 10)),
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
        p.end(stored=True)
    assert p.in_progress == 0
    assert p.answered == 3
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


def test_batches_press_from_their_threshold_of_events_on() -> None:
    clock = Clock()
    p = pressure(clock, pressing=3, pressing_events=10, hold=0.5)
    p.begin()
    p.weigh(6)
    p.begin()
    assert not p.pressing  # two requests of three, 6 events of 10
    p.weigh(4)
    assert p.pressing
    assert (p.in_progress, p.events_in_progress) == (2, 10)
    p.end(stored=True, weighed=6)
    p.end(stored=False, weighed=4)  # refused: answered, but nothing stored
    assert (p.in_progress, p.events_in_progress, p.answered) == (0, 0, 1)
    clock.now += 0.6
    assert not p.pressing
    p.begin()
    p.weigh(9)
    assert not p.pressing  # 9 events: under the threshold, and the pressure is gone
    p.end(stored=True, weighed=9)
    assert p.events_in_progress == 0


async def test_a_claim_waits_for_share_publishes_per_delivery_while_publishers_press() -> None:
    clock = Clock()
    p = pressure(clock)
    for _ in range(3):
        p.begin()
    paced = asyncio.create_task(p.pace(5))  # 5 claimed: 20 publishes to wait for, from now
    await asyncio.sleep(0.01)
    for _ in range(19):
        p.begin()
        p.weigh(500)
        p.end(stored=True, weighed=500)  # a batch counts once, whatever it holds
    for _ in range(3):
        p.begin()
        p.end(stored=False)  # refused or replayed: no share for the engine
    await asyncio.sleep(0.1)  # several steps of `hold`, the clock standing still
    assert not paced.done()
    p.begin()
    p.end(stored=True)
    await asyncio.wait_for(paced, 1)
    assert p.answered == 20


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
    assert p.answered == 0


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
