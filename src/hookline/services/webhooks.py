"""Webhook management: create, read, list, update, delete, reveal the secret."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from hookline.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from hookline.domain.tenants import Permission, Principal
from hookline.domain.times import Clock, utcnow
from hookline.domain.webhooks import (
    Webhook,
    WebhookChanges,
    WebhookDraft,
    check_fields,
    has_control_chars,
)
from hookline.errors import FieldError, NotFound, UrlNotAllowed, ValidationFailed
from hookline.ids import IdPrefix, looks_like, new_id
from hookline.secretbox import SecretBox
from hookline.services.access import require
from hookline.services.catalog import CatalogService
from hookline.store.base import Store, WebhookFilter

UrlGuard = Callable[[str], Awaitable[None]]
"""Checks a URL against the SSRF policy (resolving its host); raises UrlNotAllowed."""


class WebhookService:
    """The webhook use cases, for one deployment."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        catalog: CatalogService,
        url_guard: UrlGuard,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._box = box
        self._catalog = catalog
        self._url_guard = url_guard
        self._clock = clock

    async def create(self, principal: Principal, draft: WebhookDraft) -> Webhook:
        """Validate everything, then store the webhook with its secret sealed."""
        require(principal, Permission.MANAGE)
        errors = check_fields(
            name=draft.name,
            url=draft.url,
            events=draft.events,
            client_cuids=draft.client_cuids,
            secret=draft.secret,
        )
        errors += await self._unknown_events(draft.events, allowed_extra=())
        _raise_if(errors)
        await self.check_url(draft.url)
        now = self._clock()
        webhook_id = new_id(IdPrefix.WEBHOOK)
        webhook = Webhook(
            id=webhook_id,
            tenant_id=principal.tenant.id,
            name=draft.name,
            url=draft.url,
            client_cuids=draft.client_cuids,
            events=draft.events,
            secret_ciphertext=self._seal(draft.secret, webhook_id),
            ssl_verification=draft.ssl_verification,
            enabled=draft.enabled,
            created_at=now,
            updated_at=now,
        )
        await self._store.insert_webhook(webhook)
        return webhook

    async def get(self, principal: Principal, webhook_id: str) -> Webhook:
        """One webhook of the caller's tenant; NotFound for anyone else's."""
        require(principal, Permission.READ)
        return await self._live(principal, webhook_id)

    async def list_page(
        self,
        principal: Principal,
        *,
        enabled: bool | None = None,
        event: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[Webhook]:
        """A page of the tenant's webhooks, oldest first."""
        require(principal, Permission.READ)
        errors: list[FieldError] = []
        if not 1 <= limit <= MAX_LIMIT:
            errors.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
        after_id = None
        if cursor is not None and (after_id := decode_cursor(cursor)) is None:
            errors.append(FieldError("cursor", "is not a cursor from a previous page"))
        if event is not None and has_control_chars(event):
            errors.append(FieldError("event", "must not contain control characters"))
        _raise_if(errors)
        rows = await self._store.list_webhooks(
            principal.tenant.id,
            WebhookFilter(enabled=enabled, event=event, after_id=after_id, limit=limit + 1),
        )
        return page_of(rows, limit, lambda w: w.id)

    async def update(
        self, principal: Principal, webhook_id: str, changes: WebhookChanges
    ) -> Webhook:
        """Apply a partial update. Disabling cancels the webhook's pending deliveries."""
        require(principal, Permission.MANAGE)
        current = await self._live(principal, webhook_id)
        errors = check_fields(
            name=changes.name,
            url=changes.url,
            events=changes.events,
            client_cuids=changes.client_cuids,
            secret=changes.secret if changes.secret_given else None,
        )
        if changes.events is not None:
            # Names this webhook already has stay valid even if since removed from the catalogue.
            errors += await self._unknown_events(changes.events, allowed_extra=current.events)
        _raise_if(errors)
        if changes.url is not None and changes.url != current.url:
            await self.check_url(changes.url)
        updated = _merged(current, changes, self._clock())
        if changes.secret_given:
            updated = replace(updated, secret_ciphertext=self._seal(changes.secret, current.id))
        cancel = current.enabled and not updated.enabled
        if not await self._store.update_webhook(updated, cancel_pending=cancel):
            raise NotFound("webhook not found")
        return updated

    async def delete(self, principal: Principal, webhook_id: str) -> None:
        """Delete a webhook; its pending deliveries are cancelled, its logs stay."""
        require(principal, Permission.MANAGE)
        if not looks_like(IdPrefix.WEBHOOK, webhook_id) or not await self._store.delete_webhook(
            principal.tenant.id, webhook_id, self._clock()
        ):
            raise NotFound("webhook not found")

    async def reveal_secret(self, principal: Principal, webhook_id: str) -> str | None:
        """The plaintext signing secret (admins only), or None if unsigned."""
        require(principal, Permission.MANAGE)
        return self.open_secret(await self._live(principal, webhook_id))

    def open_secret(self, webhook: Webhook) -> str | None:
        """The plaintext signing secret of a webhook already authorised for the caller."""
        if webhook.secret_ciphertext is None:
            return None
        return self._box.open(webhook.secret_ciphertext, webhook.id)

    # -- helpers -----------------------------------------------------------------------------
    async def _live(self, principal: Principal, webhook_id: str) -> Webhook:
        # An id that cannot exist never reaches the store: PostgreSQL refuses NUL in text.
        if not looks_like(IdPrefix.WEBHOOK, webhook_id):
            raise NotFound("webhook not found")
        webhook = await self._store.get_webhook(principal.tenant.id, webhook_id)
        if webhook is None:
            raise NotFound("webhook not found")
        return webhook

    async def _unknown_events(
        self, events: tuple[str, ...], *, allowed_extra: tuple[str, ...]
    ) -> list[FieldError]:
        known = await self._catalog.active_names() | set(allowed_extra)
        return [
            FieldError(
                f"events[{i}]", f"unknown event {name[:100]!r} (see /api/internal/webhookevents)"
            )
            for i, name in enumerate(events)
            if name not in known
        ]

    async def check_url(self, url: str) -> None:
        """The SSRF check of create/update/test; UrlNotAllowed names the field ``url``."""
        try:
            await self._url_guard(url)
        except UrlNotAllowed as exc:
            raise UrlNotAllowed(exc.message, [FieldError("url", exc.message)]) from None

    def _seal(self, secret: str | None, webhook_id: str) -> str | None:
        return None if secret is None else self._box.seal(secret, webhook_id)


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(details=errors)


def _merged(current: Webhook, changes: WebhookChanges, now: datetime) -> Webhook:
    c = changes
    return replace(
        current,
        name=current.name if c.name is None else c.name,
        url=current.url if c.url is None else c.url,
        events=current.events if c.events is None else c.events,
        client_cuids=current.client_cuids if c.client_cuids is None else c.client_cuids,
        ssl_verification=(
            current.ssl_verification if c.ssl_verification is None else c.ssl_verification
        ),
        enabled=current.enabled if c.enabled is None else c.enabled,
        updated_at=now,
    )
