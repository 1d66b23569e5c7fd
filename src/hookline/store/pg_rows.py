"""PostgreSQL rows and values for :mod:`hookline.store.postgres`: records, times, JSON.

Kept apart so the store module reads as "one method, one query".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from hookline.domain.tenants import ApiKey, Role, Tenant
from hookline.domain.webhooks import EventType, Webhook


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


def dumps(value: Any) -> str:
    """JSON for JSONB parameters: compact, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Per-connection setup: json/jsonb columns travel as Python lists and dicts."""
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, schema="pg_catalog", encoder=dumps, decoder=json.loads)


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
