"""The storage interface, named by use case.

Two backends implement it (``sqlite.py``, ``postgres.py``) and pass the same contract tests
(``tests/store``). Every method is atomic: it runs in one transaction or not at all. Driver
errors are translated at this boundary: a lost connection raises
:class:`~hookline.errors.StoreUnavailable`, a uniqueness clash on a name raises
:class:`~hookline.errors.Conflict`; nothing driver-specific escapes.

Times in and out are timezone-aware UTC ``datetime``s with millisecond precision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from hookline.domain.deliveries import (
    AttemptLog,
    AttemptStats,
    ClaimedDelivery,
    Completion,
    Delivery,
    DeliveryStatus,
    PublishResult,
    QueueStats,
    Trigger,
    WebhookActivity,
)
from hookline.domain.events import NewEvent
from hookline.domain.tenants import ApiKey, Tenant
from hookline.domain.webhooks import EventType, Webhook


@dataclass(frozen=True)
class WebhookFilter:
    """The ``GET /webhooks`` query: optional filters plus a keyset position."""

    enabled: bool | None = None
    event: str | None = None
    after_id: str | None = None  # ids sort by creation; the page starts after this one
    limit: int = 50


@dataclass(frozen=True)
class LogFilter:
    """The attempt-log query; newest first, the page starts before ``before_id``."""

    webhook_id: str | None = None
    event: str | None = None
    event_id: str | None = None
    delivery_id: str | None = None
    success: bool | None = None
    trigger: Trigger | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class DeliveryFilter:
    """The deliveries query; newest first, the page starts before ``before_id``."""

    webhook_id: str | None = None
    event_id: str | None = None
    status: DeliveryStatus | None = None
    before_id: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class IdempotencyClaim:
    """Publish under an ``Idempotency-Key``.

    If the tenant used ``key`` at or after ``not_before``, nothing is stored and the first
    answer is returned; otherwise the answer ``render(results)`` is recorded with the events,
    in the same transaction.
    """

    tenant_id: str
    key: str
    not_before: datetime
    render: Callable[[list[PublishResult]], str]


@dataclass(frozen=True)
class PublishOutcome:
    """Fresh results, or (``replayed``) the JSON answered the first time for this key."""

    results: list[PublishResult]
    replayed: str | None = None


class Store(Protocol):
    """What Hookline needs from a database."""

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect. Raises StoreUnavailable with one line when the database cannot be reached."""

    async def close(self) -> None:
        """Release connections. Safe to call twice."""

    async def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied (empty if none)."""

    async def ping(self) -> None:
        """Cheap round trip; raises StoreUnavailable if the database does not answer."""

    # -- tenants -----------------------------------------------------------------------------
    async def insert_tenant(self, tenant: Tenant) -> None:
        """Add a tenant; Conflict if the name is taken."""

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        """A tenant by id."""

    async def get_tenant_by_name(self, name: str) -> Tenant | None:
        """A tenant by its unique name."""

    async def list_tenants(self) -> list[Tenant]:
        """All tenants, oldest first."""

    async def set_tenant_enabled(self, tenant_id: str, enabled: bool) -> bool:
        """Turn the webhook feature on or off; False if there is no such tenant."""

    # -- API keys ----------------------------------------------------------------------------
    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None:
        """Store a key by its hash; Conflict if the hash exists."""

    async def find_api_key(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        """The unrevoked key with this hash, and its tenant."""

    async def list_api_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Keys (revoked ones too), oldest first; all tenants' when ``tenant_id`` is None."""

    async def revoke_api_key(self, key_id: str, now: datetime) -> bool:
        """Revoke a key; False if there is no such unrevoked key."""

    async def count_api_keys(self) -> int:
        """How many keys exist at all (revoked included): 0 means a brand-new store."""

    # -- event catalogue ---------------------------------------------------------------------
    async def list_event_types(self, include_removed: bool = False) -> list[EventType]:
        """The catalogue, by name."""

    async def upsert_event_type(self, event_type: EventType) -> bool:
        """Add a type, or bring back a removed one with the new description.

        Returns False (and changes nothing) if an active type of that name exists.
        """

    async def remove_event_type(self, name: str, now: datetime) -> bool:
        """Mark a type removed; False if there is no such active type."""

    # -- webhooks ----------------------------------------------------------------------------
    async def insert_webhook(self, webhook: Webhook) -> None:
        """Add a webhook and its subscriptions."""

    async def get_webhook(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        """A live (not deleted) webhook of this tenant."""

    async def list_webhooks(self, tenant_id: str, query: WebhookFilter) -> list[Webhook]:
        """Up to ``query.limit`` live webhooks of the tenant, oldest first, after the cursor."""

    async def update_webhook(self, webhook: Webhook, *, cancel_pending: bool) -> bool:
        """Replace a live webhook's mutable fields and subscriptions.

        With ``cancel_pending``, its pending deliveries become ``cancelled`` in the same
        transaction. False if the webhook does not exist (or is deleted).
        """

    async def delete_webhook(self, tenant_id: str, webhook_id: str, now: datetime) -> bool:
        """Delete a webhook: it disappears, its pending deliveries are cancelled, its history
        (deliveries and logs) stays readable. False if there is no such live webhook."""

    # -- publishing (the outbox) -------------------------------------------------------------
    async def publish(
        self, events: list[NewEvent], idempotency: IdempotencyClaim | None, now: datetime
    ) -> PublishOutcome:
        """Store the events and one ``pending`` delivery per matching webhook, in ONE
        transaction, with a set-based fan-out (never one round trip per webhook).

        Matching: live, enabled webhooks of the event's tenant subscribed to the event name,
        whose ``client_cuids`` is empty or contains the event's ``client_cuid``. Delivery ids
        are ``'dlv_' || <event id body> || <webhook id body>``. Wakes the workers after commit.
        """

    async def wait_for_work(self, max_wait: float) -> bool:
        """Sleep until new work is published (in this process or, on PostgreSQL, any other)
        or ``max_wait`` seconds pass. True if woken by work."""

    # -- the queue -----------------------------------------------------------------------------
    async def claim_due(
        self, now: datetime, limit: int, lease_until: datetime, token: str
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries: ``pending`` with ``next_attempt_at <= now``, or
        ``delivering`` whose lease expired; only of enabled, live webhooks of enabled tenants.
        Oldest due first. Each gets ``status='delivering'``, this ``token`` and the lease."""

    async def complete(self, completions: list[Completion], now: datetime) -> int:
        """Apply attempt outcomes in one transaction and insert every attempt's log.

        A delivery changes only while its lease token matches; returns how many did. A retry
        (``pending``) of a webhook disabled or deleted meanwhile becomes ``cancelled``.
        """

    async def release(self, leases: list[tuple[str, str]], next_attempt_at: datetime) -> int:
        """Give leased deliveries ``(id, token)`` back unattempted, due at ``next_attempt_at``."""

    async def next_due_at(self) -> datetime | None:
        """When the earliest ``pending`` delivery falls due (None if there is none)."""

    async def queue_stats(self, now: datetime) -> QueueStats:
        """Live deliveries, due ones, and the age of the oldest due one."""

    async def cancel_orphans(self, now: datetime) -> int:
        """Cancel live deliveries whose webhook is disabled or deleted and that nobody holds
        (``pending``, or ``delivering`` with an expired lease)."""

    async def purge(self, logs_before: datetime, idempotency_before: datetime) -> int:
        """Delete attempt logs and idempotency keys older than the limits; rows deleted."""

    # -- reading history -----------------------------------------------------------------------
    async def insert_log(self, log: AttemptLog) -> None:
        """Store one attempt log that belongs to no leased delivery (a test attempt)."""

    async def list_logs(self, tenant_id: str, query: LogFilter) -> list[AttemptLog]:
        """Up to ``query.limit`` logs of the tenant, newest first (``id`` descending)."""

    async def get_log(self, tenant_id: str, log_id: str) -> AttemptLog | None:
        """One attempt log of the tenant (of a deleted webhook too); None for another
        tenant's."""

    async def list_deliveries(self, tenant_id: str, query: DeliveryFilter) -> list[Delivery]:
        """Up to ``query.limit`` deliveries of the tenant, newest first."""

    async def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        """One delivery of the tenant (of a deleted webhook too)."""

    async def insert_delivery(self, delivery: Delivery) -> None:
        """Queue one delivery of an existing event (a resend). Wakes the workers."""

    # -- summaries for the web UI ----------------------------------------------------------------
    async def attempt_stats(self, tenant_id: str, since: datetime) -> AttemptStats:
        """How many attempts the tenant's webhooks made since ``since``, and how many succeeded."""

    async def webhook_activity(
        self, tenant_id: str, webhook_ids: list[str], failed_since: datetime
    ) -> list[WebhookActivity]:
        """For each webhook id: its latest attempt (any trigger) and how many of its deliveries
        ended ``failed`` since ``failed_since``. One entry per id, in the order given."""


class DeliveryQueue(Protocol):
    """The part of :class:`Store` the delivery engine uses (see there for what each does).

    A store is one; so is :class:`~hookline.delivery.link.RemoteQueue`, which asks the store of
    another process (the engine of ``serve`` on SQLite runs in a process of its own).
    """

    async def wait_for_work(self, max_wait: float) -> bool: ...

    async def claim_due(
        self, now: datetime, limit: int, lease_until: datetime, token: str
    ) -> list[ClaimedDelivery]: ...

    async def complete(self, completions: list[Completion], now: datetime) -> int: ...

    async def release(self, leases: list[tuple[str, str]], next_attempt_at: datetime) -> int: ...

    async def next_due_at(self) -> datetime | None: ...

    async def cancel_orphans(self, now: datetime) -> int: ...

    async def purge(self, logs_before: datetime, idempotency_before: datetime) -> int: ...


@runtime_checkable
class SkippingClaims(Protocol):
    """Optional: a store that can leave some webhooks out of a claim.

    The engine uses it, when the store has it, to stop claiming deliveries of an endpoint whose
    waiting line is full (a hanging one); a store without it is still correct, the engine then
    holds such deliveries until their leases run out.
    """

    async def claim_due_skipping(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        token: str,
        skip_webhooks: Sequence[str],
    ) -> list[ClaimedDelivery]:
        """:meth:`Store.claim_due`, without deliveries of the webhooks ``skip_webhooks``."""
