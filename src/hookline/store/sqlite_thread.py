"""The one thread that owns the SQLite connection, with two lanes taking turns.

Every call is a function of the connection, run on this thread in the order it was made within
its lane. The *urgent* lane holds the delivery engine's calls (claims, completions), the
*normal* one publishes and reads. While both have calls waiting they take turns, the urgent one
first: delivery never waits behind more than one publish (a publish is one call per group of
requests, see ``sqlite_publish``) or read, and publishing never waits behind more than one
engine call. (Until this, the urgent lane always went first: under batch ingest while
delivering, publishes waited behind claims and completions that ran one after another. With
turns, benchmark scenario 4, back to back: 30,000 events/s accepted in batches instead of
22,500, 3,800 single events/s instead of 3,400; scenario 5's median latency unchanged, its 99th
percentile a few milliseconds more; see docs/operations.md.)
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class SqliteThread:
    """A single worker thread with an urgent and a normal lane."""

    def __init__(self, name: str = "hookline-sqlite") -> None:
        self._urgent: deque[_Job] = deque()
        self._normal: deque[_Job] = deque()
        # One token per queued call (a C queue: cheap to signal, and it lets go of the GIL while
        # the thread waits). The token says "a call is queued", the lanes say which goes next.
        self._tokens: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._closed = False
        self._urgent_last = False  # the lane of the last call, for turns
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T], *, urgent: bool = False) -> asyncio.Future[T]:
        """Run ``fn`` on the thread; the future resolves on the caller's event loop."""
        if self._closed:
            raise RuntimeError("the SQLite thread is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        (self._urgent if urgent else self._normal).append((fn, loop, future))
        self._tokens.put(True)
        return future

    def shutdown(self) -> None:
        """Finish queued calls, then stop the thread (waits for it)."""
        self._closed = True
        self._tokens.put(False)
        self._thread.join()

    def _work(self) -> None:
        while True:
            self._tokens.get()
            job = self._next()
            if job is None:  # the shutdown token, and nothing left before it
                return
            fn, loop, future = job
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, who re-raises it
                _resolve(loop, future, None, exc)
            else:
                _resolve(loop, future, result, None)

    def _next(self) -> _Job | None:
        """The next call: the urgent lane's, unless it had the last turn and a normal call
        waits."""
        if self._urgent and not (self._urgent_last and self._normal):
            self._urgent_last = True
            return self._urgent.popleft()
        if self._normal:
            self._urgent_last = False
            return self._normal.popleft()
        return None


def _resolve(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    def settle() -> None:
        if future.cancelled():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(settle)
