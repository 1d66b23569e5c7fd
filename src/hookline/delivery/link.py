"""The delivery queue across a process boundary: the engine in one process, the store in another.

``serve`` on SQLite owns its database file in one process, and that process's event loop used
to run the delivery engine too: one core for publishing, claiming, signing, sending and
recording, since Python runs one thread at a time. The engine now runs in a child process
(see :mod:`hookline.engine_process`); it reaches the queue through :class:`RemoteQueue`, a
:class:`~hookline.store.base.DeliveryQueue` whose every call is answered by a
:class:`QueueServer` in the parent, from the parent's store. The SQLite file keeps one owner
(its group commit and the engine's priority lane stay as they were); the HTTP work moves to
the other core.

Frames: a 4-byte big-endian length, then a pickle. Both ends are this program, joined by a
socketpair the parent made before starting the child: nothing else can write to it, which is
what makes pickle acceptable here (it carries the store's own objects, such as claimed
deliveries, without a second encoding to maintain).

A call is ``(call_id, method, args)``; its answer ``(call_id, True, value)`` or
``(call_id, False, (kind, message))`` where ``kind`` is ``"unavailable"`` (raised again as
:class:`~hookline.errors.StoreUnavailable`, which the engine waits out) or ``"error"``.
Calls are answered concurrently: ``wait_for_work`` may wait a second while claims go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import pickle
import struct
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, cast

from hookline.domain.deliveries import ClaimedDelivery, Completion
from hookline.errors import StoreUnavailable
from hookline.store.base import DeliveryQueue, SkippingClaims

log = logging.getLogger("hookline.engine")

_LENGTH = struct.Struct(">I")

# What the child may ask of the parent's store: the engine's calls, nothing else.
QUEUE_CALLS = frozenset(
    {
        "wait_for_work",
        "claim_due",
        "claim_due_skipping",
        "complete",
        "release",
        "next_due_at",
        "cancel_orphans",
        "purge",
    }
)
METRICS_CALL = "engine_metrics"  # the child's engine metrics, for the parent's /metrics
# A call the child stopped waiting for (the engine cancels a wait_for_work when something else
# wakes it first): the parent cancels it too. A wait left running would take the next wake-up
# (the store clears its signal for whoever wakes) and the engine would sleep through new work.
CANCEL_CALL = "cancel"


class RemoteError(RuntimeError):
    """The parent's store failed a call with an error that is not an outage."""


def write_frame(writer: asyncio.StreamWriter, value: object) -> None:
    """Queue one frame on ``writer`` (the caller drains)."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    writer.writelines([_LENGTH.pack(len(data)), data])


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next frame; raises :class:`asyncio.IncompleteReadError` when the other end is gone."""
    (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    # Only this program writes to the socket (see the module docstring).
    return pickle.loads(await reader.readexactly(size))  # noqa: S301


class QueueServer:
    """The parent's end: answers the child's queue calls from ``store``."""

    def __init__(self, store: DeliveryQueue, on_metrics: Callable[[bytes], None]) -> None:
        self._store = store
        self._on_metrics = on_metrics

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer calls until the child closes its end (or exits)."""
        answering: dict[int, asyncio.Task[None]] = {}
        try:
            while True:
                try:
                    call_id, method, args = await read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if method == CANCEL_CALL:
                    if (running := answering.get(call_id)) is not None:
                        running.cancel()
                    continue
                task = asyncio.create_task(self._answer(writer, call_id, method, args))
                answering[call_id] = task
                task.add_done_callback(partial(_forget, answering, call_id))
        finally:
            for task in list(answering.values()):
                task.cancel()

    async def _answer(
        self, writer: asyncio.StreamWriter, call_id: int, method: str, args: tuple[Any, ...]
    ) -> None:
        try:
            if method == METRICS_CALL:
                self._on_metrics(args[0])
                reply: tuple[Any, ...] = (call_id, True, None)
            elif method in QUEUE_CALLS:
                value = await getattr(self._store, method)(*args)
                reply = (call_id, True, value)
            else:
                reply = (call_id, False, ("error", f"unknown call {method!r}"))
        except StoreUnavailable as exc:
            reply = (call_id, False, ("unavailable", exc.message))
        except Exception as exc:
            log.exception("the delivery process's call %s failed", method)
            reply = (call_id, False, ("error", type(exc).__name__))
        if writer.is_closing():
            return
        write_frame(writer, reply)
        with contextlib.suppress(ConnectionError):
            await writer.drain()


def _forget(answering: dict[int, asyncio.Task[None]], call_id: int, _: object) -> None:
    answering.pop(call_id, None)


class RemoteQueue(DeliveryQueue, SkippingClaims):
    """The child's end: the engine's store, each call answered by the parent."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_lost: Callable[[], None],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_lost = on_lost
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._lost = False
        self._replies: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin reading answers (with the event loop running)."""
        self._replies = asyncio.create_task(self._read_replies(), name="hookline-queue-link")

    async def _read_replies(self) -> None:
        try:
            while True:
                call_id, ok, value = await read_frame(self._reader)
                future = self._waiting.pop(call_id, None)
                if future is None or future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    kind, message = value
                    error = StoreUnavailable if kind == "unavailable" else RemoteError
                    future.set_exception(error(message))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        self._lost = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(StoreUnavailable("the process that owns the store is gone"))
        self._waiting.clear()
        self._on_lost()

    async def _call(self, method: str, *args: Any) -> Any:
        if self._lost:
            raise StoreUnavailable("the process that owns the store is gone")
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        write_frame(self._writer, (call_id, method, args))
        try:
            await self._writer.drain()
        except ConnectionError:
            self._waiting.pop(call_id, None)
            raise StoreUnavailable("the process that owns the store is gone") from None
        try:
            return await future
        except asyncio.CancelledError:
            if self._waiting.pop(call_id, None) is not None and not self._lost:
                write_frame(self._writer, (call_id, CANCEL_CALL, ()))
            raise

    async def push_metrics(self, exposition: bytes) -> None:
        """Hand the engine's metrics to the parent, which serves them on ``/metrics``."""
        await self._call(METRICS_CALL, exposition)

    async def close(self) -> None:
        """Stop reading answers and close the socket."""
        if self._replies is not None:
            self._replies.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replies
        self._writer.close()

    # -- DeliveryQueue ---------------------------------------------------------------------------
    async def wait_for_work(self, max_wait: float) -> bool:
        return bool(await self._call("wait_for_work", max_wait))

    async def claim_due(
        self, now: datetime, limit: int, lease_until: datetime, token: str
    ) -> list[ClaimedDelivery]:
        result = await self._call("claim_due", now, limit, lease_until, token)
        return cast(list[ClaimedDelivery], result)

    async def claim_due_skipping(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        token: str,
        skip_webhooks: Sequence[str],
    ) -> list[ClaimedDelivery]:
        skip = list(skip_webhooks)
        result = await self._call("claim_due_skipping", now, limit, lease_until, token, skip)
        return cast(list[ClaimedDelivery], result)

    async def complete(self, completions: list[Completion], now: datetime) -> int:
        return int(await self._call("complete", completions, now))

    async def release(self, leases: list[tuple[str, str]], next_attempt_at: datetime) -> int:
        return int(await self._call("release", leases, next_attempt_at))

    async def next_due_at(self) -> datetime | None:
        return cast(datetime | None, await self._call("next_due_at"))

    async def cancel_orphans(self, now: datetime) -> int:
        return int(await self._call("cancel_orphans", now))

    async def purge(self, logs_before: datetime, idempotency_before: datetime) -> int:
        return int(await self._call("purge", logs_before, idempotency_before))
