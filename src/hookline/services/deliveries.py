"""Reading deliveries and attempt logs, and resending a delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hookline.domain.deliveries import AttemptLog, Delivery, DeliveryStatus, Trigger
from hookline.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from hookline.domain.tenants import Permission, Principal
from hookline.domain.times import Clock, utcnow
from hookline.domain.webhooks import has_control_chars
from hookline.errors import Conflict, FieldError, NotFound, ValidationFailed
from hookline.ids import IdPrefix, looks_like, new_id
from hookline.services.access import require
from hookline.store.base import DeliveryFilter, LogFilter, Store

MAX_ATTEMPT_LOGS = 1000


@dataclass(frozen=True)
class LogQuery:
    """Filters of the log endpoints, as the user gave them."""

    webhook_id: str | None = None
    event: str | None = None
    event_id: str | None = None
    success: bool | None = None
    trigger: Trigger | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class DeliveryQuery:
    """Filters of ``GET /deliveries``."""

    webhook_id: str | None = None
    event_id: str | None = None
    status: DeliveryStatus | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


class DeliveryService:
    """History and resends."""

    def __init__(self, store: Store, clock: Clock = utcnow) -> None:
        self._store = store
        self._clock = clock

    async def logs(self, principal: Principal, query: LogQuery) -> Page[AttemptLog]:
        """Attempt logs of the tenant, newest first."""
        require(principal, Permission.READ)
        before_id = _page_start(query.cursor, query.limit)
        _check_text(webhookId=query.webhook_id, event=query.event, eventId=query.event_id)
        rows = await self._store.list_logs(
            principal.tenant.id,
            LogFilter(
                webhook_id=query.webhook_id,
                event=query.event,
                event_id=query.event_id,
                success=query.success,
                trigger=query.trigger,
                since=query.since,
                until=query.until,
                before_id=before_id,
                limit=query.limit + 1,
            ),
        )
        return page_of(rows, query.limit, lambda row: row.id)

    async def deliveries(self, principal: Principal, query: DeliveryQuery) -> Page[Delivery]:
        """Deliveries of the tenant, newest first."""
        require(principal, Permission.READ)
        before_id = _page_start(query.cursor, query.limit)
        _check_text(webhookId=query.webhook_id, eventId=query.event_id)
        rows = await self._store.list_deliveries(
            principal.tenant.id,
            DeliveryFilter(
                webhook_id=query.webhook_id,
                event_id=query.event_id,
                status=query.status,
                before_id=before_id,
                limit=query.limit + 1,
            ),
        )
        return page_of(rows, query.limit, lambda row: row.id)

    async def delivery(
        self, principal: Principal, delivery_id: str
    ) -> tuple[Delivery, list[AttemptLog]]:
        """One delivery and its attempts in order."""
        require(principal, Permission.READ)
        delivery = await self._get(principal, delivery_id)
        logs = await self._store.list_logs(
            principal.tenant.id, LogFilter(delivery_id=delivery.id, limit=MAX_ATTEMPT_LOGS)
        )
        logs.sort(key=lambda row: (row.attempt, row.id))
        return delivery, logs

    async def log(self, principal: Principal, log_id: str) -> AttemptLog:
        """One attempt log of the tenant; NotFound for another tenant's (or none)."""
        require(principal, Permission.READ)
        if not looks_like(IdPrefix.LOG, log_id):
            raise NotFound("log not found")
        found = await self._store.get_log(principal.tenant.id, log_id)
        if found is None:
            raise NotFound("log not found")
        return found

    async def resend(self, principal: Principal, delivery_id: str) -> Delivery:
        """Queue a new delivery of the same event to the same webhook (trigger ``resend``)."""
        require(principal, Permission.MANAGE)
        source = await self._get(principal, delivery_id)
        webhook = await self._store.get_webhook(principal.tenant.id, source.webhook_id)
        if webhook is None:
            raise Conflict("the webhook of this delivery has been deleted")
        if not webhook.enabled:
            raise Conflict("the webhook of this delivery is disabled; enable it first")
        now = self._clock()
        delivery = Delivery(
            id=new_id(IdPrefix.DELIVERY),
            tenant_id=source.tenant_id,
            webhook_id=source.webhook_id,
            event_id=source.event_id,
            event=source.event,
            trigger=Trigger.RESEND,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            last_status_code=None,
            last_error=None,
            created_at=now,
            updated_at=now,
        )
        await self._store.insert_delivery(delivery)
        return delivery

    async def _get(self, principal: Principal, delivery_id: str) -> Delivery:
        if not delivery_id.startswith("dlv_") or len(delivery_id) > 64 or "\x00" in delivery_id:
            raise NotFound("delivery not found")
        delivery = await self._store.get_delivery(principal.tenant.id, delivery_id)
        if delivery is None:
            raise NotFound("delivery not found")
        return delivery


def _page_start(cursor: str | None, limit: int) -> str | None:
    errors: list[FieldError] = []
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
    before_id = None
    if cursor is not None and (before_id := decode_cursor(cursor)) is None:
        errors.append(FieldError("cursor", "is not a cursor from a previous page"))
    if errors:
        raise ValidationFailed(details=errors)
    return before_id


def _check_text(**values: str | None) -> None:
    errors = [
        FieldError(name, "must be at most 200 characters, without control characters")
        for name, value in values.items()
        if value is not None and (len(value) > 200 or has_control_chars(value))
    ]
    if errors:
        raise ValidationFailed(details=errors)
