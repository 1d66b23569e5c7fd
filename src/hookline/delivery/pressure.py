"""Publishing comes first: how hard publishers press on this process, for the engine beside it.

In ``serve`` the API and the delivery engine share one event loop, and left alone they share it
evenly: under a flood of publish requests, every event costs the loop its ingest and then its
delivery (about twice as much), so publishers wait for deliveries. A publish is a request path
of the host application; a delivery is asynchronous by nature. So while publishers press
(:data:`PRESSING` or more publish requests being worked on at once), the engine claims no
faster than one delivery per :data:`SHARE` events accepted: deliveries lag during the burst
and catch up at full speed once it ends. Only the *claims* are paced: attempts already started
or waiting for their endpoint go on, and an endpoint that answers slowly keeps its slots.

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
HOLD = 0.1  # seconds publishers still count as pressing after they last did
SHARE = 4  # events accepted per delivery claimed, while publishers press
MAX_WAIT = 1.0  # seconds a claim waits for its share at most


class PublishPressure:
    """Counts the publishes in progress and the events accepted (one event loop's), for one
    engine's claims to wait on (one :meth:`pace` at a time)."""

    def __init__(
        self,
        pressing: int = PRESSING,
        share: int = SHARE,
        *,
        hold: float = HOLD,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.in_progress = 0
        self.accepted = 0
        self._pressing = pressing
        self._share = share
        self._hold = hold
        self._max_wait = max_wait
        self._clock = clock
        self._pressed_at = float("-inf")  # when publishers last pressed
        self._target = 0
        self._waiter: asyncio.Future[None] | None = None

    @property
    def pressing(self) -> bool:
        """Whether publishers press: ``PRESSING`` publishes were in progress at once within
        the last ``HOLD`` seconds. (Not "now": a group commit answers a whole group of
        publishes at once, and the count drops to 0 between two groups.)"""
        return self._clock() - self._pressed_at < self._hold

    def begin(self) -> None:
        """A publish request's body is in; it is being checked and stored."""
        self.in_progress += 1
        if self.in_progress >= self._pressing:
            self._pressed_at = self._clock()

    def end(self, accepted: int) -> None:
        """That publish is answered, with ``accepted`` events stored (0 if refused)."""
        self.in_progress -= 1
        self.accepted += accepted
        waiter = self._waiter
        if waiter is not None and self.accepted >= self._target and not waiter.done():
            waiter.set_result(None)

    async def pace(self, claimed: int) -> None:
        """After a claim of ``claimed`` deliveries: while publishers press, return once they
        have had ``SHARE`` events accepted per delivery claimed, or they stop pressing, or
        ``MAX_WAIT`` passed. Returns at once when they do not press."""
        target = self.accepted + claimed * self._share
        deadline = self._clock() + self._max_wait
        while self.accepted < target and self.pressing:
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
