"""Rows of the SQLite store <-> domain records (times are epoch milliseconds, booleans 0/1)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from hookline.domain.deliveries import (
    AttemptLog,
    ClaimedDelivery,
    Delivery,
    DeliveryStatus,
    Trigger,
)
from hookline.domain.tenants import ApiKey, Role, Tenant
from hookline.domain.times import from_epoch_ms, to_epoch_ms
from hookline.domain.webhooks import EventType, Webhook


def opt_ms(moment: datetime | None) -> int | None:
    return None if moment is None else to_epoch_ms(moment)


def opt_time(value: int | None) -> datetime | None:
    return None if value is None else from_epoch_ms(value)


def tenant(row: sqlite3.Row) -> Tenant:
    return Tenant(row["id"], row["name"], bool(row["enabled"]), from_epoch_ms(row["created_at"]))


def api_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        role=Role(row["role"]),
        prefix=row["prefix"],
        created_at=from_epoch_ms(row["created_at"]),
        revoked_at=opt_time(row["revoked_at"]),
    )


def event_type(row: sqlite3.Row) -> EventType:
    return EventType(
        row["name"],
        row["description"],
        from_epoch_ms(row["created_at"]),
        opt_time(row["removed_at"]),
    )


def webhook(row: sqlite3.Row) -> Webhook:
    return Webhook(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        url=row["url"],
        client_cuids=tuple(json.loads(row["client_cuids"])),
        events=tuple(json.loads(row["events"])),
        secret_ciphertext=row["secret_enc"],
        ssl_verification=bool(row["ssl_verification"]),
        enabled=bool(row["enabled"]),
        created_at=from_epoch_ms(row["created_at"]),
        updated_at=from_epoch_ms(row["updated_at"]),
    )


def webhook_params(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "tenant_id": webhook.tenant_id,
        "name": webhook.name,
        "url": webhook.url,
        "client_cuids": json.dumps(list(webhook.client_cuids), ensure_ascii=False),
        "events": json.dumps(list(webhook.events), ensure_ascii=False),
        "secret_enc": webhook.secret_ciphertext,
        "ssl_verification": int(webhook.ssl_verification),
        "enabled": int(webhook.enabled),
        "created_at": to_epoch_ms(webhook.created_at),
        "updated_at": to_epoch_ms(webhook.updated_at),
    }


_TRIGGERS = {trigger.value: trigger for trigger in Trigger}


def claimed(row: list[Any]) -> ClaimedDelivery:
    """One ``claimed_details`` array, its body's bytes in place of its size (sqlite_queue.claim)."""
    (
        delivery_id,
        tenant_id,
        webhook_id,
        event_id,
        event,
        trigger,
        attempts,
        lease_token,
        client_cuid,
        body,
        url,
        secret_enc,
        ssl_verification,
    ) = row
    return ClaimedDelivery(
        id=delivery_id,
        tenant_id=tenant_id,
        webhook_id=webhook_id,
        event_id=event_id,
        event=event,
        client_cuid=client_cuid,
        trigger=_TRIGGERS[trigger],
        attempts=attempts,
        lease_token=lease_token,
        url=url,
        secret_ciphertext=secret_enc,
        ssl_verification=bool(ssl_verification),
        body=body,
    )


def log_params(log: AttemptLog) -> tuple[Any, ...]:
    """One attempt log as the positional parameters of ``insert_log`` (headers as JSON text)."""
    return tuple(
        _log_fields(
            log,
            json.dumps(log.request_headers, ensure_ascii=False),
            log.request_body,
            json.dumps(log.response_headers, ensure_ascii=False),
        )
    )


def log_row(log: AttemptLog, *, body_of_event: bool = False) -> list[Any]:
    """One attempt log as an element of ``insert_logs``' JSON array (headers as objects).

    ``body_of_event``: the request body is the event's stored body (true of every attempt of
    a delivery), so it is left out and copied from the event by the statement."""
    body = None if body_of_event else log.request_body
    return _log_fields(log, log.request_headers, body, log.response_headers)


def _log_fields(
    log: AttemptLog, request_headers: Any, request_body: str | None, response_headers: Any
) -> list[Any]:
    """The columns of ``delivery_logs`` in ``insert_log``'s order."""
    return [
        log.id,
        log.tenant_id,
        log.delivery_id,
        log.webhook_id,
        log.event_id,
        log.event,
        log.client_cuid,
        log.attempt,
        log.trigger.value,
        log.url,
        request_headers,
        request_body,
        log.status_code,
        response_headers,
        log.response_body,
        log.duration_ms,
        int(log.success),
        log.error,
        to_epoch_ms(log.created_at),
    ]


def log(row: sqlite3.Row) -> AttemptLog:
    return AttemptLog(
        id=row["id"],
        tenant_id=row["tenant_id"],
        delivery_id=row["delivery_id"],
        webhook_id=row["webhook_id"],
        event_id=row["event_id"],
        event=row["event"],
        client_cuid=row["client_cuid"],
        attempt=row["attempt"],
        trigger=Trigger(row["trigger"]),
        url=row["url"],
        request_headers=json.loads(row["request_headers"]),
        request_body=row["request_body"],
        status_code=row["status_code"],
        response_headers=json.loads(row["response_headers"]),
        response_body=row["response_body"],
        duration_ms=row["duration_ms"],
        success=bool(row["success"]),
        error=row["error"],
        created_at=from_epoch_ms(row["created_at"]),
    )


def delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        tenant_id=row["tenant_id"],
        webhook_id=row["webhook_id"],
        event_id=row["event_id"],
        event=row["event"],
        trigger=Trigger(row["trigger"]),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=opt_time(row["next_attempt_at"]),
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=from_epoch_ms(row["created_at"]),
        updated_at=from_epoch_ms(row["updated_at"]),
    )
