"""Publishing comes first: how hard publishers press on this process, for the engine beside it.

In ``serve`` the API and the delivery engine share one event loop, and left alone they share it
evenly: under a flood of publish requests, every event costs the loop its ingest and then its
delivery (about twice as much), so publishers wait for deliveries. A publish is a request path
of the host application; a delivery is asynchronous by nature. So while publishers press
(:data:`PRESSING` or more publish requests being worked on at once, or batches holding
:data:`PRESSING_EVENTS` or more events), the engine claims no faster than one delivery per
:data:`SHARE` publish requests answered: deliveries lag during the burst and catch up at full
speed once it ends. Only the *claims* are paced: attempts already started or waiting for their
endpoint go on, and an endpoint that answers slowly keeps its slots.

Why requests, not events: a publish costs the loop mostly per request (its HTTP exchange, its
wait for a group commit), and a batch's events a small part each (measured: one 500-event batch
about as much loop as 40 single publishes). Counted by events, a batch flood let the engine
claim one delivery per 4 of its events, as fast as it could go: in a flood of 500-event batches,
four at once (benchmark scenario 4), it took ~40 % of the loop, and ~30 % fewer events a second
were accepted than with the engine held back. Why 1,500 events: two batches at once (a host
flushing its queue with two workers, as scenario 2 publishes) do not press; measured, holding
the engine back then made that scenario's end-to-end delivery ~6 % slower (publishing ends a
little sooner, and the engine starts later), with nothing to gain for the publisher.

Nothing accepted waits forever: a claim waits at most :data:`MAX_WAIT` for its share (a stuck
publish, or a flood that never ends, still lets the engine claim a batch a second). Only this
process's publishers count: ``hookline worker`` processes, and ``serve``'s delivery process,
run on loops of their own and are never paced.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

PRESSING = 8  # publish requests worked on at once (body read, not yet answered)
PRESSING_EVENTS = 1500  # or events in the batches worked on at once (three of 500)
HOLD = 0.1  # seconds publishers still count as pressing after they last did
SHARE = 4  # publish requests answered (with events stored) per delivery claimed
MAX_WAIT = 1.0  # seconds a claim waits for its share at most


class PublishPressure:
    """Counts the publishes in progress and those answered (one event loop's), for one engine's
    claims to wait on (one :meth:`pace` at a time)."""

    def __init__(
        self,
        pressing: int = PRESSING,
        share: int = SHARE,
        pressing_events: int = PRESSING_EVENTS,
        *,
        hold: float = HOLD,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.in_progress = 0
        self.events_in_progress = 0  # in the batches among them, once read
        self.answered = 0  # publish requests answered with their events stored
        self._pressing = pressing
        self._pressing_events = pressing_events
        self._share = share
        self._hold = hold
        self._max_wait = max_wait
        self._clock = clock
        self._pressed_at = float("-inf")  # when publishers last pressed
        self._target = 0
        self._waiter: asyncio.Future[None] | None = None

    @property
    def pressing(self) -> bool:
        """Whether publishers press: ``PRESSING`` publishes, or batches of ``PRESSING_EVENTS``
        events, were in progress at once within the last ``HOLD`` seconds. (Not "now": a group
        commit answers a whole group of publishes at once, and the count drops to 0 between
        two groups.)"""
        return self._clock() - self._pressed_at < self._hold

    def begin(self) -> None:
        """A publish request's body is in; it is being checked and stored."""
        self.in_progress += 1
        if self.in_progress >= self._pressing:
            self._pressed_at = self._clock()

    def weigh(self, events: int) -> None:
        """The publish begun last by the caller is a batch of ``events`` events (its body is
        read); :meth:`end` is then told the same count."""
        self.events_in_progress += events
        if self.events_in_progress >= self._pressing_events:
            self._pressed_at = self._clock()

    def end(self, *, stored: bool, weighed: int = 0) -> None:
        """That publish is answered: ``stored`` if events were stored for it (not when it was
        refused, or replayed), ``weighed`` the events :meth:`weigh` was told of (0 if none)."""
        self.in_progress -= 1
        self.events_in_progress -= weighed
        self.answered += stored
        waiter = self._waiter
        if waiter is not None and self.answered >= self._target and not waiter.done():
            waiter.set_result(None)

    async def pace(self, claimed: int) -> None:
        """After a claim of ``claimed`` deliveries: while publishers press, return once they
        have had ``SHARE`` publishes answered per delivery claimed, or they stop pressing, or
        ``MAX_WAIT`` passed. Returns at once when they do not press."""
        target = self.answered + claimed * self._share
        deadline = self._clock() + self._max_wait
        while self.answered < target and self.pressing:
            left = deadline - self._clock()
            if left <= 0:
                return
            self._target = target
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                # In steps of HOLD (real seconds): publishers that stop pressing answer nothing
                # more, and the check above must run again to see it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, min(left, self._hold))
            finally:
                self._waiter = None
