"""The delivery engine: claim due deliveries, send them concurrently, complete them in batches.

One loop claims work with a lease and a fencing token (the store guarantees two claimers never
hold the same delivery), starts a task per attempt that may start now (an attempt task that
ends goes on with the next delivery waiting for its endpoint's slot), and goes back for more
while there is credit. Attempt tasks hand their outcome to a
:class:`~hookline.delivery.completer.Completer`, which writes whatever has accumulated in one
transaction. Isolation is :class:`~hookline.delivery.slots.Slots`' job: a global cap,
per-endpoint caps (smaller for an endpoint whose attempts time out), and a waiting line per
endpoint whose full lines are left out of the next claims, so a hanging endpoint ties up only
its own few slots. While the publishers of the same process press, claims are paced to a share
of what they publish (:mod:`~hookline.delivery.pressure`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hookline.delivery import outcome
from hookline.delivery.completer import Completer
from hookline.delivery.pressure import PublishPressure
from hookline.delivery.retry import RetryPolicy
from hookline.delivery.sender import Attempt, AttemptResult, Sender, delivery_headers
from hookline.delivery.slots import GIVE_BACK, START, Slots
from hookline.domain.deliveries import ClaimedDelivery
from hookline.domain.times import Clock, utcnow
from hookline.errors import StoreUnavailable
from hookline.metrics import Metrics
from hookline.secretbox import SecretBox, SecretBoxError
from hookline.store.base import DeliveryQueue, SkippingClaims

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
    defer_delay: float = 0.5  # when a delivery given back unattempted is due again
    maintenance_interval: float = 60.0
    log_retention: timedelta = timedelta(days=30)


class Engine:
    """Claims, sends and completes deliveries until stopped."""

    def __init__(
        self,
        store: DeliveryQueue,
        sender: Sender,
        box: SecretBox,
        policy: RetryPolicy,
        config: EngineConfig,
        metrics: Metrics,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        pressure: PublishPressure | None = None,
    ) -> None:
        self._store = store
        self._pressure = pressure  # this process's publishers, who come first
        self._sender = sender
        self._box = box
        self._policy = policy
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        self._completer = Completer(store, metrics, clock)
        self._tasks: set[asyncio.Task[None]] = set()
        # A delivery is started only while its lease outlasts a whole attempt.
        lease_margin = config.timeout + 1.0
        self._lease_margin = timedelta(seconds=lease_margin)
        self._slots = Slots(
            config.concurrency, config.per_endpoint, lease_margin, config.claim_batch
        )
        self._min_claim = max(1, min(config.claim_batch, config.concurrency) // 16)
        self._skipping = store if isinstance(store, SkippingClaims) else None
        self._slot_freed = asyncio.Event()
        self._unblocked = asyncio.Event()
        self._stop = asyncio.Event()
        self._secrets: dict[tuple[str, str], str] = {}
        # Read when scraped: setting it twice per attempt cost a lock each time.
        metrics.in_flight.set_function(lambda: self._slots.in_flight)
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
            await self._give_back()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._completer.close()
            await completer
            self.running = False

    # -- claiming --------------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        cfg = self._config
        while not self._stop.is_set():
            self._start_ready(self._slots.ready(self._clock()))
            free = self._slots.credit()
            # Claim in useful amounts: a claim is a write transaction, a claim of 1 a waste.
            if free <= 0 or (free < self._min_claim and self._slots.in_flight):
                self._slot_freed.clear()
                await self._first_of(self._slot_freed.wait(), self._stop.wait())
                continue
            now = self._clock()
            lease_until = now + timedelta(seconds=cfg.timeout + cfg.lease_slack)
            # Cleared before the skip list is read, not when the claim comes back empty: an
            # endpoint unblocked while the claim ran must wake the idle loop at once, or its
            # deliveries wait out the poll interval with nothing in flight.
            self._unblocked.clear()
            skip = self._slots.skipped_webhooks()
            try:
                claimed = await self._claim(now, min(free, cfg.claim_batch), lease_until, skip)
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
                await self._start(claimed, lease_until)
                if self._pressure is not None and self._pressure.pressing:
                    await self._first_of(self._pressure.pace(len(claimed)), self._stop.wait())
                continue
            await self._idle(bool(skip))

    async def _claim(
        self, now: Any, limit: int, lease_until: Any, skip: Sequence[str]
    ) -> list[ClaimedDelivery]:
        token = secrets.token_hex(12)
        if skip and self._skipping is not None:
            return await self._skipping.claim_due_skipping(now, limit, lease_until, token, skip)
        return await self._store.claim_due(now, limit, lease_until, token)

    async def _idle(self, skipping: bool) -> None:
        self._completer.retry_scheduled.clear()  # before reading the next due time, not after
        wait = self._config.poll_interval
        try:
            next_due = await self._store.next_due_at()
        except Exception:  # the claim that follows reports the store's state
            next_due = None
        if next_due is not None and not skipping:
            # (While some webhooks are skipped, the next due delivery may well be theirs.)
            wait = min(wait, max(0.0, (next_due - self._clock()).total_seconds()))
        if wait > 0:
            await self._first_of(
                self._store.wait_for_work(wait),
                self._stop.wait(),
                self._completer.retry_scheduled.wait(),
                self._unblocked.wait(),
            )

    async def _start(self, claimed: list[ClaimedDelivery], lease_until: Any) -> None:
        now = self._clock()
        give_back: list[tuple[str, str]] = []
        # The lease was computed before the claim; a claim that waited out a stalled store
        # (a lock, a blackholed connection) can come back with a lease that is already over or
        # too short for an attempt. Sending then would race the next claim of the same rows
        # (found by the chaos suite: two sends milliseconds apart, with no crash), so the whole
        # claim is given back and claimed again with a fresh lease.
        if lease_until - now < self._lease_margin:
            log.warning("a claim took too long; giving back %d deliveries", len(claimed))
            give_back = [(d.id, d.lease_token) for d in claimed]
            claimed = []
        for delivery in claimed:
            decision, endpoint = self._slots.admit(delivery, lease_until, now)
            if decision == START:
                self._launch(delivery, endpoint)
            elif decision == GIVE_BACK:
                give_back.append((delivery.id, delivery.lease_token))
        if give_back:
            later = now + timedelta(seconds=self._config.defer_delay)
            try:
                await self._store.release(give_back, later)
            except StoreUnavailable as exc:  # the leases expire and free them anyway
                log.warning("cannot release %d deliveries: %s", len(give_back), exc.message)
            except Exception:
                log.exception("cannot release %d deliveries", len(give_back))

    def _start_ready(self, ready: list[tuple[ClaimedDelivery, str]]) -> None:
        for delivery, endpoint in ready:
            self._launch(delivery, endpoint)

    def _launch(self, delivery: ClaimedDelivery, endpoint: str) -> None:
        # (Not add_done_callback: _deliver takes its own task out, one scheduled call less.)
        self._tasks.add(asyncio.create_task(self._deliver(delivery, endpoint)))

    # -- one attempt -----------------------------------------------------------------------------
    async def _deliver(self, claimed: ClaimedDelivery, endpoint: str) -> None:
        """Attempt ``claimed``; then, while its endpoint has deliveries waiting for the slot
        this attempt frees, go on with the next one in the same task (a task per attempt was
        measured at a few per cent of the event loop)."""
        next_up: tuple[ClaimedDelivery, str] | None = (claimed, endpoint)
        try:
            while next_up is not None:
                claimed, endpoint = next_up
                next_up = await self._deliver_one(claimed, endpoint)
        finally:
            self._tasks.discard(asyncio.current_task())

    async def _deliver_one(
        self, claimed: ClaimedDelivery, endpoint: str
    ) -> tuple[ClaimedDelivery, str] | None:
        """One attempt, recorded; answers the endpoint's next waiting delivery, whose slot it
        has taken, for the caller to attempt (None: nothing is waiting, or stopping)."""
        timed_out = False
        now = None
        try:
            request_headers, result = await self._attempt(claimed)
            timed_out = result.timed_out
            now = self._clock()
            completion = outcome.complete(
                claimed,
                request_headers,
                result,
                self._policy,
                self._rng,
                now,
            )
            self._record(result)
            self._completer.add(completion)
        except Exception:  # a bug: the lease expires and the delivery is retried
            log.exception("delivery %s: unexpected error", claimed.id)
        except BaseException:  # cancelled: what the freed slot lets start goes in tasks of its own
            self._start_ready(self._slot_done(endpoint, timed_out, now))
            raise
        ready = self._slot_done(endpoint, timed_out, now)
        if not ready:
            return None
        self._start_ready(ready[1:])
        return ready[0]

    def _slot_done(
        self, endpoint: str, timed_out: bool, now: datetime | None
    ) -> list[tuple[ClaimedDelivery, str]]:
        """Free an attempt's slot; answers what may start now on that endpoint, each with its
        slot taken."""
        self._slots.release(endpoint, timed_out=timed_out)
        ready = []
        if not self._stop.is_set():
            # The next delivery waiting for this endpoint goes at once, without a claim.
            ready = self._slots.ready(now or self._clock(), endpoint)
        if self._slots.unblocked():
            self._unblocked.set()
        self._slot_freed.set()
        return ready

    async def _attempt(self, claimed: ClaimedDelivery) -> tuple[dict[str, str], AttemptResult]:
        """The headers of the attempt (as sent, or as they would have been) and its result."""
        try:
            secret = self._secret(claimed)
        except SecretBoxError:
            attempt = Attempt(claimed.url, claimed.body, {}, claimed.ssl_verification)
            return self._sender.request_headers(attempt), AttemptResult(
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
        sent = self._sender.request_headers(attempt)
        return sent, await self._sender.send(attempt, sent)

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
        self._metrics.attempts.record(kind, result.duration_ms / 1000)

    async def _give_back(self) -> None:
        """At stop, waiting deliveries go back to the queue, due now (their leases would free
        them anyway, only later)."""
        waiting = self._slots.drain_waiting()
        if not waiting:
            return
        try:
            await self._store.release([(d.id, d.lease_token) for d in waiting], self._clock())
        except Exception as exc:  # the leases expire and free them anyway
            log.warning("cannot give back %d waiting deliveries: %s", len(waiting), exc)

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
