"""PostgreSQL rows and values for :mod:`hookline.store.postgres`: records, times, JSON.

Kept apart so the store module reads as "one method, one query".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from hookline.domain.deliveries import (
    AttemptLog,
    ClaimedDelivery,
    Completion,
    Delivery,
    DeliveryStatus,
    Trigger,
)
from hookline.domain.events import NewEvent
from hookline.domain.tenants import ApiKey, Role, Tenant
from hookline.domain.webhooks import EventType, Webhook
from hookline.store.json_text import json_text


def ms(moment: datetime) -> datetime:
    """``moment`` as aware UTC rounded to the millisecond (what both stores keep).

    Rounds like :func:`hookline.domain.times.to_epoch_ms` so both backends agree; a naive
    value is taken to be UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    micros = moment.microsecond
    rounded = moment.replace(microsecond=micros - micros % 1000)
    if micros % 1000 >= 500:
        rounded += timedelta(milliseconds=1)
    return rounded.astimezone(UTC)


def ms_or_none(moment: datetime | None) -> datetime | None:
    """:func:`ms`, passing ``None`` through."""
    return None if moment is None else ms(moment)


async def init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Per-connection setup: json/jsonb columns travel as Python lists and dicts."""
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, schema="pg_catalog", encoder=json_text, decoder=json.loads
        )


async def keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """What the pool does to a connection given back, beyond ending an open transaction
    (which asyncpg always does): nothing.

    asyncpg's default sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` on
    every release: one more round trip for every store call. Nothing here leaves session
    state behind: settings are ``SET LOCAL``, advisory locks ``_xact``, cursors live inside
    transactions, and ``LISTEN`` has its own connection outside the pool (pg_wakeup).
    """


# -- rows -> records ---------------------------------------------------------------------------


def tenant_from(row: asyncpg.Record) -> Tenant:
    """A ``tenants`` row."""
    return Tenant(
        id=row["id"], name=row["name"], enabled=row["enabled"], created_at=row["created_at"]
    )


def api_key_from(row: asyncpg.Record) -> ApiKey:
    """An ``api_keys`` row (never the hash)."""
    return ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        role=Role(row["role"]),
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def key_tenant_from(row: asyncpg.Record) -> Tenant:
    """The tenant half of a ``find_api_key`` row."""
    return Tenant(
        id=row["tenant_id"],
        name=row["tenant_name"],
        enabled=row["tenant_enabled"],
        created_at=row["tenant_created_at"],
    )


def event_type_from(row: asyncpg.Record) -> EventType:
    """An ``event_types`` row."""
    return EventType(
        name=row["name"],
        description=row["description"],
        created_at=row["created_at"],
        removed_at=row["removed_at"],
    )


def webhook_from(row: asyncpg.Record) -> Webhook:
    """A ``webhooks`` row; JSONB arrays become tuples."""
    return Webhook(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        url=row["url"],
        client_cuids=tuple(row["client_cuids"]),
        events=tuple(row["events"]),
        secret_ciphertext=row["secret_enc"],
        ssl_verification=row["ssl_verification"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def webhook_params(webhook: Webhook) -> tuple[Any, ...]:
    """``tenant_id, id, name, url, client_cuids, events, secret_enc, ssl, enabled``."""
    return (
        webhook.tenant_id,
        webhook.id,
        webhook.name,
        webhook.url,
        list(webhook.client_cuids),
        list(webhook.events),
        webhook.secret_ciphertext,
        webhook.ssl_verification,
        webhook.enabled,
    )


# -- the queue and its history -------------------------------------------------------------------


def event_arrays(events: list[NewEvent]) -> tuple[list[Any], ...]:
    """The ``publish`` query's per-event arrays: ids, tenants, names, clients, bodies, times."""
    return (
        [e.id for e in events],
        [e.tenant_id for e in events],
        [e.event for e in events],
        [e.client_cuid for e in events],
        [e.body for e in events],
        [ms(e.created_at) for e in events],
    )


def completion_arrays(completions: list[Completion]) -> tuple[list[Any], ...]:
    """The ``complete_deliveries`` query's per-completion arrays, in its parameter order."""
    return (
        [c.delivery_id for c in completions],
        [c.lease_token for c in completions],
        [c.status.value for c in completions],
        [c.attempts for c in completions],
        [ms_or_none(c.next_attempt_at) for c in completions],
        [c.last_status_code for c in completions],
        [c.last_error for c in completions],
    )


def log_params(log: AttemptLog) -> tuple[Any, ...]:
    """``insert_log`` parameters; the header dicts travel as JSONB."""
    return (
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
        log.request_headers,
        log.request_body,
        log.status_code,
        log.response_headers,
        log.response_body,
        log.duration_ms,
        log.success,
        log.error,
        ms(log.created_at),
    )


def log_arrays(logs: list[AttemptLog]) -> tuple[list[Any], ...]:
    """:func:`log_params` of many logs as one array per column (for ``unnest``); the header
    dicts as JSON text, cast to JSONB in the query (arrays of JSONB bypass the codec)."""
    columns: tuple[list[Any], ...] = tuple([] for _ in range(19))
    for log in logs:
        params = log_params(log)
        for column, value in zip(columns, params, strict=True):
            column.append(value)
    columns[10][:] = [json_text(h) for h in columns[10]]  # request_headers
    columns[13][:] = [json_text(h) for h in columns[13]]  # response_headers
    return columns


def delivery_params(delivery: Delivery) -> tuple[Any, ...]:
    """``insert_delivery`` parameters."""
    return (
        delivery.id,
        delivery.tenant_id,
        delivery.webhook_id,
        delivery.event_id,
        delivery.event,
        delivery.trigger.value,
        delivery.status.value,
        delivery.attempts,
        ms_or_none(delivery.next_attempt_at),
        ms(delivery.created_at),
        ms(delivery.updated_at),
    )


def claimed_from(row: asyncpg.Record) -> ClaimedDelivery:
    """A ``claim_due`` row: the leased delivery with its event body and webhook target."""
    return ClaimedDelivery(
        id=row["id"],
        tenant_id=row["tenant_id"],
        webhook_id=row["webhook_id"],
        event_id=row["event_id"],
        event=row["event"],
        client_cuid=row["client_cuid"],
        trigger=Trigger(row["trigger"]),
        attempts=row["attempts"],
        lease_token=row["lease_token"],
        url=row["url"],
        secret_ciphertext=row["secret_enc"],
        ssl_verification=row["ssl_verification"],
        body=bytes(row["body"]),
    )


def delivery_from(row: asyncpg.Record) -> Delivery:
    """A ``deliveries`` row."""
    return Delivery(
        id=row["id"],
        tenant_id=row["tenant_id"],
        webhook_id=row["webhook_id"],
        event_id=row["event_id"],
        event=row["event"],
        trigger=Trigger(row["trigger"]),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def log_from(row: asyncpg.Record) -> AttemptLog:
    """A ``delivery_logs`` row; JSONB headers become dicts."""
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
        request_headers=row["request_headers"],
        request_body=row["request_body"],
        status_code=row["status_code"],
        response_headers=row["response_headers"],
        response_body=row["response_body"],
        duration_ms=row["duration_ms"],
        success=row["success"],
        error=row["error"],
        created_at=row["created_at"],
    )
