"""The outbox and the queue on PostgreSQL: publishing, leasing, completing, and their history.

:class:`PgQueue` is the half of :class:`~hookline.store.postgres.PostgresStore` that moves
deliveries; the store subclasses it and lends it connections (the pool and the translation of
driver errors stay there). Batches are set-based: a publish of 1000 events to 2000 webhooks
each is one statement (arrays in, ``unnest`` inside), and so is a batch of completions. Work is
announced with ``pg_notify`` inside the transaction that queues it, so workers hear of it at
commit and never before (:mod:`hookline.store.pg_wakeup`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from hookline.domain.deliveries import (
    AttemptLog,
    AttemptStats,
    ClaimedDelivery,
    Completion,
    Delivery,
    PublishResult,
    QueueStats,
    WebhookActivity,
)
from hookline.domain.events import NewEvent
from hookline.domain.times import from_epoch_ms, to_epoch_ms, utcnow
from hookline.store import listing
from hookline.store import pg_rows as rows
from hookline.store.base import DeliveryFilter, IdempotencyClaim, LogFilter, PublishOutcome
from hookline.store.pg_counts import QueueCounts
from hookline.store.pg_wakeup import WorkListener
from hookline.store.skip_floor import NONE, SkipFloor
from hookline.store.sql import queries

if TYPE_CHECKING:  # the driver's classes are generic only in its stubs
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]

Q = queries("postgres")
_NO_FLOOR = datetime.min.replace(tzinfo=UTC)  # the claim reads deliveries_due from its head


class PgQueue(ABC):
    """Publishing, the queue and history, on connections the subclass lends."""

    _listener: WorkListener | None = None  # set while the store is open
    _counts: QueueCounts  # the subclass makes one per store
    _skip_floor: SkipFloor  # likewise: where this process's claims that skip endpoints start

    @abstractmethod
    def _connection(self, *, conflict: str = "conflict") -> AbstractAsyncContextManager[Connection]:
        """A pooled connection; driver errors raised inside become Hookline errors."""

    # -- publishing (the outbox) -----------------------------------------------------------------

    async def publish(
        self, events: list[NewEvent], idempotency: IdempotencyClaim | None, now: datetime
    ) -> PublishOutcome:
        """Store the events and their deliveries; under a key, at most once per key.

        The key is claimed FIRST, by inserting its row: of two concurrent first uses, the
        second waits on the unique index until the first commits, then replays its answer (or
        goes ahead, if the first rolled back). Reading the key first would let both through.
        """
        async with self._connection(conflict="an event with this id already exists") as conn:
            if idempotency is None:
                return PublishOutcome(await _insert_events(conn, events, now))  # one statement
            tenant_id, key = idempotency.tenant_id, idempotency.key
            async with conn.transaction():
                owned = await conn.fetchval(
                    Q["claim_idempotency"],
                    tenant_id,
                    key,
                    rows.ms(now),
                    rows.ms(idempotency.not_before),
                )
                if owned is None:
                    replayed: str | None = await conn.fetchval(
                        Q["find_idempotency"], tenant_id, key
                    )
                    assert replayed is not None, "the key's row is locked by us: it is there"
                    return PublishOutcome([], replayed=replayed)
                results = await _insert_events(conn, events, now)
                await conn.execute(
                    Q["save_idempotency"], tenant_id, key, idempotency.render(results)
                )
        return PublishOutcome(results)

    async def wait_for_work(self, max_wait: float) -> bool:
        """Sleep until any process queues work (``NOTIFY``) or ``max_wait`` passes; never raises."""
        listener = self._listener
        if listener is None:  # not open: nothing can wake us
            await asyncio.sleep(max_wait)
            return False
        return await listener.wait(max_wait)

    # -- the queue -------------------------------------------------------------------------------

    async def claim_due(
        self, now: datetime, limit: int, lease_until: datetime, token: str
    ) -> list[ClaimedDelivery]:
        """Lease due deliveries, oldest due first, with ``FOR UPDATE SKIP LOCKED``: concurrent
        claimers never get the same one. One round trip, details included."""
        return await self.claim_due_skipping(now, limit, lease_until, token, ())

    async def claim_due_skipping(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        token: str,
        skip_webhooks: Sequence[str],
    ) -> list[ClaimedDelivery]:
        """:meth:`claim_due` without the deliveries of ``skip_webhooks``."""
        now_ms = to_epoch_ms(now)
        start = self._skip_floor.start(skip_webhooks, now_ms)
        async with self._connection() as conn, conn.transaction():
            await conn.execute(Q["claim_settings"])  # the plan; no wait for the disk
            found = await conn.fetch(
                Q["claim_due"],
                rows.ms(now),
                limit,
                rows.ms(lease_until),
                token,
                list(skip_webhooks),
                _NO_FLOOR if start == NONE else from_epoch_ms(start),
            )
        oldest = to_epoch_ms(found[0]["next_attempt_at"]) if found else None
        self._skip_floor.claimed(skip_webhooks, start, oldest, now_ms)
        return [rows.claimed_from(row) for row in found]

    async def complete(self, completions: list[Completion], now: datetime) -> int:
        """Apply the outcomes whose token still matches and log every attempt, in one
        transaction; how many deliveries changed.

        A completion whose lease was lost changes nothing, but its log is kept: the attempt did
        happen, and the receiver saw it. The same batch applied twice (sent again after a lost
        reply) changes nothing the second time and stores no log twice.
        """
        if not completions:
            return 0
        async with self._connection() as conn:  # one statement: one transaction
            applied = await conn.fetchval(
                Q["complete_deliveries"],
                *rows.completion_arrays(completions),
                rows.ms(now),
                *rows.log_arrays([c.log for c in completions]),
            )
        return int(applied)

    async def release(self, leases: list[tuple[str, str]], next_attempt_at: datetime) -> int:
        """Hand leased deliveries back, due at ``next_attempt_at``; how many were still ours."""
        if not leases:
            return 0
        ids, tokens = [i for i, _ in leases], [t for _, t in leases]
        async with self._connection() as conn:
            count = await conn.fetchval(
                Q["release_deliveries"], ids, tokens, rows.ms(next_attempt_at), utcnow()
            )
        return int(count)

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending delivery falls due."""
        async with self._connection() as conn:
            due: datetime | None = await conn.fetchval(Q["next_due_at"])
        return due

    async def queue_stats(self, now: datetime) -> QueueStats:
        """Live and due deliveries, and how long the oldest due one has waited.

        The counts of a huge queue may be up to a minute old (:mod:`~hookline.store.pg_counts`);
        the oldest due delivery is always read now.
        """
        at = rows.ms(now)
        async with self._connection() as conn:

            async def count() -> tuple[int, int]:
                row = await conn.fetchrow(Q["queue_counts"], at)
                assert row is not None  # an aggregate always answers one row
                return int(row["live"]), int(row["due"])

            live, due = await self._counts.read(count)
            oldest: datetime | None = await conn.fetchval(Q["oldest_due"], at)
        age = 0.0 if oldest is None else max(0.0, (at - oldest).total_seconds())
        return QueueStats(live, due, age)

    async def cancel_orphans(self, now: datetime) -> int:
        """Cancel unheld live deliveries of disabled or deleted webhooks."""
        async with self._connection() as conn:
            return int(await conn.fetchval(Q["cancel_orphans"], rows.ms(now)))

    async def purge(self, logs_before: datetime, idempotency_before: datetime) -> int:
        """Delete old logs and idempotency keys in one statement; rows deleted."""
        async with self._connection() as conn:
            deleted = await conn.fetchval(
                Q["purge"], rows.ms(logs_before), rows.ms(idempotency_before)
            )
        return int(deleted)

    # -- history ---------------------------------------------------------------------------------

    async def insert_log(self, log: AttemptLog) -> None:
        """Store the log of an attempt outside the queue (a test)."""
        async with self._connection(conflict="a log with this id already exists") as conn:
            await conn.execute(Q["insert_log"], *rows.log_params(log))

    async def list_logs(self, tenant_id: str, query: LogFilter) -> list[AttemptLog]:
        """A page of the tenant's attempt logs, newest first."""
        terms = listing.log_terms(query, time=rows.ms, flag=bool)
        async with self._connection() as conn:
            found = await conn.fetch(*_listed(Q["list_logs"], terms, tenant_id, query.limit))
        return [rows.log_from(row) for row in found]

    async def get_log(self, tenant_id: str, log_id: str) -> AttemptLog | None:
        """One attempt log of the tenant, whatever became of its webhook."""
        async with self._connection() as conn:
            row = await conn.fetchrow(Q["get_log"], tenant_id, log_id)
        return None if row is None else rows.log_from(row)

    async def list_deliveries(self, tenant_id: str, query: DeliveryFilter) -> list[Delivery]:
        """A page of the tenant's deliveries, newest first."""
        terms = listing.delivery_terms(query)
        async with self._connection() as conn:
            found = await conn.fetch(*_listed(Q["list_deliveries"], terms, tenant_id, query.limit))
        return [rows.delivery_from(row) for row in found]

    async def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        """One delivery of the tenant, whatever became of its webhook."""
        async with self._connection() as conn:
            row = await conn.fetchrow(Q["get_delivery"], tenant_id, delivery_id)
        return None if row is None else rows.delivery_from(row)

    async def insert_delivery(self, delivery: Delivery) -> None:
        """Queue one delivery of a stored event (a resend) and notify the workers, in one
        statement."""
        async with self._connection(conflict="a delivery with this id already exists") as conn:
            await conn.execute(Q["insert_delivery"], *rows.delivery_params(delivery))

    # -- summaries for the web UI ----------------------------------------------------------------

    async def attempt_stats(self, tenant_id: str, since: datetime) -> AttemptStats:
        """Attempts since ``since`` and how many succeeded."""
        async with self._connection() as conn:
            row = await conn.fetchrow(Q["attempt_stats"], tenant_id, since)
        return AttemptStats(int(row["total"]), int(row["succeeded"])) if row else AttemptStats(0, 0)

    async def webhook_activity(
        self, tenant_id: str, webhook_ids: list[str], failed_since: datetime
    ) -> list[WebhookActivity]:
        """Latest attempt and recent failures per webhook, in the order given."""
        async with self._connection() as conn:
            records = await conn.fetch(Q["webhook_activity"], tenant_id, webhook_ids, failed_since)
        return [
            WebhookActivity(
                webhook_id=r["webhook_id"],
                last_attempt_at=rows.ms_or_none(r["created_at"]),
                last_success=r["success"],
                last_status_code=r["status_code"],
                failed_recently=int(r["failed_recently"]),
            )
            for r in records
        ]


def _listed(sql: str, terms: list[listing.Term], tenant_id: str, limit: int) -> tuple[Any, ...]:
    """A list query with the filters given, and its arguments: $1 tenant, $2 limit, $3.. the
    filters."""
    text = listing.with_terms(sql, terms, lambda i, _: f"${i + 3}")
    return (text, tenant_id, limit, *(term.value for term in terms))


async def _insert_events(
    conn: Connection, events: list[NewEvent], now: datetime
) -> list[PublishResult]:
    """The ``publish`` statement: events, fan-out and notification; counts per event."""
    if not events:
        return []
    fanned = await conn.fetch(Q["publish"], *rows.event_arrays(events), rows.ms(now))
    counts: dict[str, int] = {row["event_id"]: row["deliveries"] for row in fanned}
    return [PublishResult(event.id, counts.get(event.id, 0)) for event in events]
