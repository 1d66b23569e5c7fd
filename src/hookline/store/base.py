"""The storage interface, named by use case.

Two backends implement it (``sqlite.py``, ``postgres.py``) and pass the same contract tests
(``tests/store``). Every method is atomic: it runs in one transaction or not at all. Driver
errors are translated at this boundary: a lost connection raises
:class:`~hookline.errors.StoreUnavailable`, a uniqueness clash on a name raises
:class:`~hookline.errors.Conflict`; nothing driver-specific escapes.

Times in and out are timezone-aware UTC ``datetime``s with millisecond precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hookline.domain.tenants import ApiKey, Tenant
from hookline.domain.webhooks import EventType, Webhook


@dataclass(frozen=True)
class WebhookFilter:
    """The ``GET /webhooks`` query: optional filters plus a keyset position."""

    enabled: bool | None = None
    event: str | None = None
    after_id: str | None = None  # ids sort by creation; the page starts after this one
    limit: int = 50


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
