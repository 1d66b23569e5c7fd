"""Attempt outcomes are written in batches: whatever accumulated while the last write ran goes
in the next one, so under load many completions share one transaction (and one fsync)."""

from __future__ import annotations

import asyncio
import logging

from hookline.domain.deliveries import Completion, DeliveryStatus
from hookline.domain.times import Clock
from hookline.errors import StoreUnavailable
from hookline.metrics import Metrics
from hookline.store.base import DeliveryQueue

log = logging.getLogger("hookline.engine")


class Completer:
    """Collects attempt outcomes and writes them in batches, one transaction per batch."""

    def __init__(self, store: DeliveryQueue, metrics: Metrics, clock: Clock) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._pending: list[Completion] = []
        self._ready = asyncio.Event()
        self._closing = False
        # Set after a batch that scheduled a retry is written: an idle claim loop computed its
        # sleep before that retry existed and must look again, or a sub-second retry waits
        # for the poll interval.
        self.retry_scheduled = asyncio.Event()

    def add(self, completion: Completion) -> None:
        """Queue one outcome for the next write."""
        self._pending.append(completion)
        self._ready.set()

    async def run(self) -> None:
        """Write batches until :meth:`close` and nothing is left."""
        while not (self._closing and not self._pending):
            await self._ready.wait()
            self._ready.clear()
            if self._pending:
                await self._flush()

    def close(self) -> None:
        """Finish after writing what is queued."""
        self._closing = True
        self._ready.set()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            applied = await self._store.complete(batch, self._clock())
        except StoreUnavailable as exc:
            # Keep the outcomes and try again; if the leases expire meanwhile, the deliveries
            # are claimed again and re-sent: at-least-once, never lost.
            log.warning("cannot record %d attempt outcomes yet: %s", len(batch), exc.message)
            self._pending[:0] = batch
            await asyncio.sleep(1.0)
            self._ready.set()
            return
        except Exception:
            # A bug or a value the store rejects. One bad outcome must not sink the others or
            # stop the completer: write them one by one and give up only on those that fail
            # alone (their leases expire and they are attempted again).
            log.exception("cannot record %d attempt outcomes; writing them one by one", len(batch))
            applied, kept = await self._write_one_by_one(batch)
            if kept:  # the store went away meanwhile: the rest waits for the next flush
                self._pending[:0] = batch[len(batch) - kept :]
                batch = batch[: len(batch) - kept]
                await asyncio.sleep(1.0)
                self._ready.set()
        if applied < len(batch):
            self._metrics.leases_lost.inc(len(batch) - applied)
        if any(c.status is DeliveryStatus.PENDING for c in batch):
            self.retry_scheduled.set()

    async def _write_one_by_one(self, batch: list[Completion]) -> tuple[int, int]:
        """Write each outcome alone; answers how many were applied, and how many were not
        tried because the store became unavailable (the tail of ``batch``)."""
        applied = 0
        for index, completion in enumerate(batch):
            try:
                applied += await self._store.complete([completion], self._clock())
            except StoreUnavailable:
                return applied, len(batch) - index
            except Exception:
                log.exception("delivery %s: cannot record its attempt", completion.delivery_id)
        return applied, 0
