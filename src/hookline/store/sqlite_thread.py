"""The one thread that owns the SQLite connection, with two lanes.

Every call is a function of the connection, run on this thread in the order it was made within
its lane. The *urgent* lane (claims, completions: the delivery engine's calls) goes before the
normal one (publishes, reads), so that a burst of publishes queued behind each other cannot
stall delivery: the engine's calls are few and short, publishes are many.
"""

from __future__ import annotations

import asyncio
import contextlib
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
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T], *, urgent: bool = False) -> asyncio.Future[T]:
        """Run ``fn`` on the thread; the future resolves on the caller's event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the SQLite thread is closed")
            (self._urgent if urgent else self._normal).append((fn, loop, future))
            self._ready.notify()
        return future

    def shutdown(self) -> None:
        """Finish queued calls, then stop the thread (waits for it)."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._urgent and not self._normal:
                    if self._closed:
                        return
                    self._ready.wait()
                fn, loop, future = (self._urgent or self._normal).popleft()
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, who re-raises it
                _resolve(loop, future, None, exc)
            else:
                _resolve(loop, future, result, None)


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
