"""The SQLite store: one file, one connection, one thread.

SQLite allows one writer at a time, so every call runs on a single dedicated thread that owns
the only connection: no lock contention inside the process, and calls are serialised in the
order they were made. Writes use ``BEGIN IMMEDIATE`` so a transaction takes the write lock up
front instead of failing half-way. WAL lets readers in other processes (``hookline key list``
while ``serve`` runs) read without blocking the writer. ``synchronous=FULL``: a commit is on
disk before the API answers, which is the promise behind 202.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from hookline.domain.tenants import ApiKey, Role, Tenant
from hookline.domain.times import from_epoch_ms, to_epoch_ms
from hookline.domain.webhooks import EventType, Webhook
from hookline.errors import Conflict, StoreUnavailable
from hookline.store.base import WebhookFilter
from hookline.store.sql import migrations, queries

T = TypeVar("T")
Q = queries("sqlite")
BUSY_TIMEOUT_MS = 10_000


class SqliteStore:
    """:class:`~hookline.store.base.Store` on an SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None

    # -- plumbing --------------------------------------------------------------------------
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is None or self._conn is None:
            raise StoreUnavailable("the SQLite store is not open")
        conn = self._conn
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, fn, conn)
        except sqlite3.IntegrityError as exc:
            raise Conflict(_conflict_message(exc)) from None
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite error on {self.path}: {exc}") from None

    @staticmethod
    @contextmanager
    def _write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        if self._conn is not None:
            return
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hookline-sqlite")
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._thread, self._connect)
        except (sqlite3.Error, OSError) as exc:
            self._thread.shutdown(wait=False)
            self._thread = None
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        if self.path.parent and not self.path.parent.exists():
            raise OSError(f"directory {self.path.parent} does not exist")
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def close(self) -> None:
        conn, thread = self._conn, self._thread
        self._conn = self._thread = None
        if conn is not None and thread is not None:
            await asyncio.get_running_loop().run_in_executor(thread, conn.close)
        if thread is not None:
            thread.shutdown(wait=True)

    async def migrate(self) -> list[str]:
        def apply(conn: sqlite3.Connection) -> list[str]:
            applied: list[str] = []
            with self._write(conn):
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
                )
                done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
                for migration in migrations("sqlite"):
                    if migration.version in done:
                        continue
                    # executescript would COMMIT our transaction; run statements one by one.
                    for statement in _statements(migration.sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        (migration.version, migration.name, _ms(None)),
                    )
                    applied.append(f"{migration.version:04d}_{migration.name}")
            return applied

        return await self._run(apply)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    # -- tenants ---------------------------------------------------------------------------
    async def insert_tenant(self, tenant: Tenant) -> None:
        params = {
            "id": tenant.id,
            "name": tenant.name,
            "enabled": int(tenant.enabled),
            "created_at": to_epoch_ms(tenant.created_at),
        }
        await self._run(lambda conn: conn.execute(Q["insert_tenant"], params))

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = await self._one(Q["get_tenant"], {"id": tenant_id})
        return _tenant(row) if row else None

    async def get_tenant_by_name(self, name: str) -> Tenant | None:
        row = await self._one(Q["get_tenant_by_name"], {"name": name})
        return _tenant(row) if row else None

    async def list_tenants(self) -> list[Tenant]:
        return [_tenant(r) for r in await self._all(Q["list_tenants"], {})]

    async def set_tenant_enabled(self, tenant_id: str, enabled: bool) -> bool:
        params = {"id": tenant_id, "enabled": int(enabled)}
        return await self._changed(Q["set_tenant_enabled"], params)

    # -- API keys --------------------------------------------------------------------------
    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None:
        params = {
            "id": key.id,
            "tenant_id": key.tenant_id,
            "role": key.role.value,
            "key_hash": key_hash,
            "prefix": key.prefix,
            "created_at": to_epoch_ms(key.created_at),
        }
        await self._run(lambda conn: conn.execute(Q["insert_api_key"], params))

    async def find_api_key(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        row = await self._one(Q["find_api_key"], {"key_hash": key_hash})
        if row is None:
            return None
        tenant = Tenant(
            row["t_id"], row["t_name"], bool(row["t_enabled"]), from_epoch_ms(row["t_created_at"])
        )
        return _api_key(row), tenant

    async def list_api_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        rows = await self._all(Q["list_api_keys"], {"tenant_id": tenant_id})
        return [_api_key(r) for r in rows]

    async def revoke_api_key(self, key_id: str, now: datetime) -> bool:
        return await self._changed(Q["revoke_api_key"], {"id": key_id, "now": _ms(now)})

    async def count_api_keys(self) -> int:
        row = await self._one(Q["count_api_keys"], {})
        return int(row[0]) if row else 0

    # -- event catalogue -------------------------------------------------------------------
    async def list_event_types(self, include_removed: bool = False) -> list[EventType]:
        rows = await self._all(Q["list_event_types"], {"include_removed": int(include_removed)})
        return [_event_type(r) for r in rows]

    async def upsert_event_type(self, event_type: EventType) -> bool:
        params = {
            "name": event_type.name,
            "description": event_type.description,
            "created_at": to_epoch_ms(event_type.created_at),
        }

        def upsert(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                row = conn.execute(Q["get_event_type"], {"name": event_type.name}).fetchone()
                if row is None:
                    conn.execute(Q["insert_event_type"], params)
                    return True
                if row["removed_at"] is None:
                    return False
                conn.execute(Q["restore_event_type"], params)
                return True

        return await self._run(upsert)

    async def remove_event_type(self, name: str, now: datetime) -> bool:
        return await self._changed(Q["remove_event_type"], {"name": name, "now": _ms(now)})

    # -- webhooks --------------------------------------------------------------------------
    async def insert_webhook(self, webhook: Webhook) -> None:
        params = _webhook_params(webhook)

        def insert(conn: sqlite3.Connection) -> None:
            with self._write(conn):
                conn.execute(Q["insert_webhook"], params)
                _subscribe(conn, webhook)

        await self._run(insert)

    async def get_webhook(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        row = await self._one(Q["get_webhook"], {"id": webhook_id, "tenant_id": tenant_id})
        return _webhook(row) if row else None

    async def list_webhooks(self, tenant_id: str, query: WebhookFilter) -> list[Webhook]:
        params = {
            "tenant_id": tenant_id,
            "after_id": query.after_id,
            "enabled": None if query.enabled is None else int(query.enabled),
            "event": query.event,
            "limit": query.limit,
        }
        return [_webhook(r) for r in await self._all(Q["list_webhooks"], params)]

    async def update_webhook(self, webhook: Webhook, *, cancel_pending: bool) -> bool:
        params = _webhook_params(webhook)

        def update(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                if conn.execute(Q["update_webhook"], params).rowcount == 0:
                    return False
                conn.execute(Q["delete_subscriptions"], {"webhook_id": webhook.id})
                _subscribe(conn, webhook)
                if cancel_pending:
                    conn.execute(
                        Q["cancel_pending_deliveries"],
                        {"webhook_id": webhook.id, "now": params["updated_at"]},
                    )
                return True

        return await self._run(update)

    async def delete_webhook(self, tenant_id: str, webhook_id: str, now: datetime) -> bool:
        params = {"id": webhook_id, "tenant_id": tenant_id, "now": _ms(now)}

        def delete(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                if conn.execute(Q["soft_delete_webhook"], params).rowcount == 0:
                    return False
                conn.execute(Q["delete_subscriptions"], {"webhook_id": webhook_id})
                conn.execute(
                    Q["cancel_pending_deliveries"], {"webhook_id": webhook_id, "now": params["now"]}
                )
                return True

        return await self._run(delete)

    # -- small helpers ---------------------------------------------------------------------
    async def _one(self, sql: str, params: dict[str, Any]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self._run(lambda c: c.execute(sql, params).fetchone())
        return row

    async def _all(self, sql: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = await self._run(lambda c: c.execute(sql, params).fetchall())
        return rows

    async def _changed(self, sql: str, params: dict[str, Any]) -> bool:
        count: int = await self._run(lambda c: c.execute(sql, params).rowcount)
        return count > 0


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements.

    Comments go first (they may hold ';'). Our migrations have no '--' or ';' inside string
    literals; keep it that way.
    """
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    for chunk in code.split(";"):
        statement = chunk.strip()
        if statement:
            yield statement


def _ms(moment: datetime | None) -> int:
    if moment is None:
        from hookline.domain.times import utcnow

        moment = utcnow()
    return to_epoch_ms(moment)


def _opt_time(value: int | None) -> datetime | None:
    return None if value is None else from_epoch_ms(value)


def _conflict_message(exc: sqlite3.IntegrityError) -> str:
    text = str(exc)
    if "tenants.name" in text:
        return "a tenant with that name exists"
    if "api_keys.key_hash" in text:
        return "that key exists"
    return "that conflicts with an existing record"


def _tenant(row: sqlite3.Row) -> Tenant:
    return Tenant(row["id"], row["name"], bool(row["enabled"]), from_epoch_ms(row["created_at"]))


def _api_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        role=Role(row["role"]),
        prefix=row["prefix"],
        created_at=from_epoch_ms(row["created_at"]),
        revoked_at=_opt_time(row["revoked_at"]),
    )


def _event_type(row: sqlite3.Row) -> EventType:
    return EventType(
        row["name"],
        row["description"],
        from_epoch_ms(row["created_at"]),
        _opt_time(row["removed_at"]),
    )


def _webhook(row: sqlite3.Row) -> Webhook:
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


def _webhook_params(webhook: Webhook) -> dict[str, Any]:
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


def _subscribe(conn: sqlite3.Connection, webhook: Webhook) -> None:
    conn.executemany(
        Q["insert_subscription"],
        [
            {"webhook_id": webhook.id, "tenant_id": webhook.tenant_id, "event": e}
            for e in webhook.events
        ],
    )
