"""The delivery engine: claim due deliveries, send them concurrently, complete them in batches.

One loop claims work with a lease and a fencing token (the store guarantees two claimers never
hold the same delivery), starts one task per attempt, and goes back for more while there are
free slots. Attempt tasks hand their outcome to a :class:`Completer`, which writes whatever has
accumulated in one transaction, so under load many completions share a commit. Isolation: a
global cap (``concurrency``) and a per-endpoint cap; a delivery whose endpoint is full is given
back unattempted for a moment, so a hanging endpoint ties up only its own slots.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from hookline.delivery import outcome
from hookline.delivery.retry import RetryPolicy
from hookline.delivery.sender import Attempt, AttemptResult, Sender, delivery_headers
from hookline.domain.deliveries import ClaimedDelivery, Completion, DeliveryStatus
from hookline.domain.times import Clock, utcnow
from hookline.errors import StoreUnavailable
from hookline.metrics import Metrics
from hookline.secretbox import SecretBox, SecretBoxError
from hookline.store.base import Store

log = logging.getLogger("hookline.engine")

IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class EngineConfig:
    """How hard the engine works."""

    concurrency: int = 256
    per_endpoint: int = 64
    claim_batch: int = 100
    timeout: float = 5.0
    lease_slack: float = 5.0  # beyond the attempt timeout, for the completion to be written
    poll_interval: float = 1.0  # safety net; new work wakes the engine at once
    defer_delay: float = 0.5  # how long a delivery to a full endpoint waits before a new claim
    maintenance_interval: float = 60.0
    log_retention: timedelta = timedelta(days=30)


class Completer:
    """Collects attempt outcomes and writes them in batches, one transaction per batch."""

    def __init__(self, store: Store, metrics: Metrics, clock: Clock) -> None:
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
            applied = await self._write_one_by_one(batch)
        if applied < len(batch):
            self._metrics.leases_lost.inc(len(batch) - applied)
        if any(c.status is DeliveryStatus.PENDING for c in batch):
            self.retry_scheduled.set()

    async def _write_one_by_one(self, batch: list[Completion]) -> int:
        applied = 0
        for completion in batch:
            try:
                applied += await self._store.complete([completion], self._clock())
            except Exception:
                log.exception("delivery %s: cannot record its attempt", completion.delivery_id)
        return applied


class Engine:
    """Claims, sends and completes deliveries until stopped."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        box: SecretBox,
        policy: RetryPolicy,
        config: EngineConfig,
        metrics: Metrics,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._box = box
        self._policy = policy
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        self._completer = Completer(store, metrics, clock)
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_endpoint: defaultdict[str, int] = defaultdict(int)
        self._slot_freed = asyncio.Event()
        self._stop = asyncio.Event()
        self._secrets: dict[tuple[str, str], str] = {}
        self.running = False

    def stop(self) -> None:
        """Stop claiming; :meth:`run` returns once attempts in flight are recorded."""
        self._stop.set()

    async def run(self) -> None:
        """The engine's life: claim until stopped, then drain."""
        self.running = True
        completer = asyncio.create_task(self._completer.run(), name="hookline-completer")
        maintenance = asyncio.create_task(self._maintain(), name="hookline-maintenance")
        try:
            await self._claim_loop()
        finally:
            maintenance.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._completer.close()
            await completer
            self.running = False

    # -- claiming --------------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        cfg = self._config
        while not self._stop.is_set():
            free = cfg.concurrency - len(self._tasks)
            if free <= 0:
                self._slot_freed.clear()
                await self._first_of(self._slot_freed.wait(), self._stop.wait())
                continue
            now = self._clock()
            lease_until = now + timedelta(seconds=cfg.timeout + cfg.lease_slack)
            try:
                claimed = await self._store.claim_due(
                    now, min(free, cfg.claim_batch), lease_until, secrets.token_hex(12)
                )
            except StoreUnavailable as exc:
                log.warning("cannot claim deliveries: %s", exc.message)
                await self._first_of(asyncio.sleep(cfg.poll_interval), self._stop.wait())
                continue
            except Exception:
                # Never let one bad claim end delivery while the API goes on accepting events.
                log.exception("cannot claim deliveries")
                await self._first_of(asyncio.sleep(cfg.poll_interval), self._stop.wait())
                continue
            if claimed:
                await self._start(claimed)
                continue
            await self._idle()

    async def _idle(self) -> None:
        self._completer.retry_scheduled.clear()  # before reading the next due time, not after
        wait = self._config.poll_interval
        try:
            next_due = await self._store.next_due_at()
        except Exception:  # the claim that follows reports the store's state
            next_due = None
        if next_due is not None:
            wait = min(wait, max(0.0, (next_due - self._clock()).total_seconds()))
        if wait > 0:
            await self._first_of(
                self._store.wait_for_work(wait),
                self._stop.wait(),
                self._completer.retry_scheduled.wait(),
            )

    async def _start(self, claimed: list[ClaimedDelivery]) -> None:
        deferred: list[tuple[str, str]] = []
        for delivery in claimed:
            endpoint = endpoint_of(delivery.url)
            if self._per_endpoint[endpoint] >= self._config.per_endpoint:
                deferred.append((delivery.id, delivery.lease_token))
                continue
            self._per_endpoint[endpoint] += 1
            task = asyncio.create_task(self._deliver(delivery, endpoint))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._metrics.in_flight.set(len(self._tasks))
        if deferred:
            later = self._clock() + timedelta(seconds=self._config.defer_delay)
            try:
                await self._store.release(deferred, later)
            except StoreUnavailable as exc:  # the leases expire and free them anyway
                log.warning("cannot release %d deliveries: %s", len(deferred), exc.message)
            except Exception:
                log.exception("cannot release %d deliveries", len(deferred))

    # -- one attempt -----------------------------------------------------------------------------
    async def _deliver(self, claimed: ClaimedDelivery, endpoint: str) -> None:
        try:
            attempt, result = await self._attempt(claimed)
            now = self._clock()
            completion = outcome.complete(
                claimed,
                self._sender.request_headers(attempt),
                result,
                self._policy,
                self._rng,
                now,
            )
            self._record(result)
            self._completer.add(completion)
        except Exception:  # a bug: the lease expires and the delivery is retried
            log.exception("delivery %s: unexpected error", claimed.id)
        finally:
            self._per_endpoint[endpoint] -= 1
            if not self._per_endpoint[endpoint]:
                del self._per_endpoint[endpoint]
            self._metrics.in_flight.set(len(self._tasks) - 1)
            self._slot_freed.set()

    async def _attempt(self, claimed: ClaimedDelivery) -> tuple[Attempt, AttemptResult]:
        try:
            secret = self._secret(claimed)
        except SecretBoxError:
            attempt = Attempt(claimed.url, claimed.body, {}, claimed.ssl_verification)
            return attempt, AttemptResult(
                success=False,
                error="Failed to call webhook: the webhook secret cannot be decrypted "
                "(is HOOKLINE_SECRET_KEY the same in every process?)",
            )
        headers = delivery_headers(
            event=claimed.event,
            delivery_id=claimed.id,
            attempt=claimed.attempts + 1,
            webhook_id=claimed.webhook_id,
            secret=secret,
            body=claimed.body,
        )
        attempt = Attempt(claimed.url, claimed.body, headers, claimed.ssl_verification)
        return attempt, await self._sender.send(attempt)

    def _secret(self, claimed: ClaimedDelivery) -> str | None:
        if claimed.secret_ciphertext is None:
            return None
        key = (claimed.webhook_id, claimed.secret_ciphertext)
        secret = self._secrets.get(key)
        if secret is None:
            if len(self._secrets) > 10_000:
                self._secrets.clear()
            secret = self._box.open(claimed.secret_ciphertext, claimed.webhook_id)
            self._secrets[key] = secret
        return secret

    def _record(self, result: AttemptResult) -> None:
        kind = "success" if result.success else ("refused" if result.refused else "failure")
        self._metrics.attempts.labels(kind).inc()
        self._metrics.attempt_seconds.observe(result.duration_ms / 1000)

    # -- housekeeping ----------------------------------------------------------------------------
    async def _maintain(self) -> None:
        while True:
            try:
                now = self._clock()
                await self._store.cancel_orphans(now)
                await self._store.purge(now - self._config.log_retention, now - IDEMPOTENCY_WINDOW)
            except StoreUnavailable as exc:
                log.warning("maintenance skipped: %s", exc.message)
            except Exception:
                log.exception("maintenance failed")
            await asyncio.sleep(self._config.maintenance_interval)

    @staticmethod
    async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()


def endpoint_of(url: str) -> str:
    """What the per-endpoint cap counts by: scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"
