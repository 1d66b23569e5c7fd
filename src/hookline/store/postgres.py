"""The PostgreSQL store: asyncpg, one pool per process, SQL in ``queries/postgres.sql``.

Many Hookline processes may share one database, so anything that must happen once
(migrations) is serialised with an advisory lock. Every method runs in one transaction (a
single statement is one); driver errors are translated here and nowhere else. The outbox and
the queue are in :class:`~hookline.store.pg_queue.PgQueue`, which this store extends and lends
connections to; the wake-up of workers is :mod:`~hookline.store.pg_wakeup`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from hookline.domain.tenants import ApiKey, Tenant
from hookline.domain.times import utcnow
from hookline.domain.webhooks import EventType, Webhook
from hookline.errors import StoreUnavailable
from hookline.store import pg_errors
from hookline.store import pg_rows as rows
from hookline.store.base import WebhookFilter
from hookline.store.pg_counts import QueueCounts
from hookline.store.pg_queue import PgQueue
from hookline.store.pg_wakeup import WorkListener
from hookline.store.skip_floor import SkipFloor
from hookline.store.sql import migrations, queries

log = logging.getLogger("hookline.store")

if TYPE_CHECKING:  # the driver's classes are generic only in its stubs
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]

CONNECT_TIMEOUT = 5.0  # seconds for one connection attempt
POOL_MIN, POOL_MAX = 1, 10
MIGRATION_LOCK = 0x686F6F6B6C696E65  # "hookline": one migrate() at a time per database


class PostgresStore(PgQueue):
    """:class:`~hookline.store.base.Store` on PostgreSQL 13+.

    Args:
        dsn: ``postgresql://`` or ``postgres://`` URL. It may hold a password; no message
            this class produces ever repeats it.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._where = f"cannot reach PostgreSQL at {pg_errors.describe_dsn(dsn)}"
        self._secret = pg_errors.dsn_password(dsn)
        self._q = queries("postgres")
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._listener: WorkListener | None = None  # LISTENs for new work once a worker waits
        self._counts = QueueCounts()
        self._skip_floor = SkipFloor()

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the pool (one connection at once); StoreUnavailable with one line if not."""
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                timeout=CONNECT_TIMEOUT,
                init=rows.init_connection,
                reset=rows.keep_session,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ValueError) as exc:
            # InterfaceError/ValueError: a malformed DSN; PostgresError: refused by the
            # server (bad password, no such database, too many connections...).
            raise StoreUnavailable(self._unreachable(exc)) from None
        self._listener = WorkListener(self._dsn, self._unreachable)

    async def close(self) -> None:
        """Close the pool and the listening connection; safe to call twice."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> None:
        """``SELECT 1``."""
        async with self._connection() as conn:
            await conn.fetchval(self._q["ping"])

    async def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction, under an advisory lock.

        The lock is taken in every transaction, so processes that start together apply each
        migration exactly once; a process that waited sees it applied and skips it.
        """
        applied: list[str] = []
        async with self._connection() as conn:
            async with conn.transaction():
                await conn.execute(self._q["lock_migrations"], MIGRATION_LOCK)
                await conn.execute(self._q["create_schema_migrations"])
            for migration in migrations("postgres"):
                async with conn.transaction():
                    await conn.execute(self._q["lock_migrations"], MIGRATION_LOCK)
                    done = await conn.fetch(self._q["list_migration_versions"])
                    if migration.version in {row["version"] for row in done}:
                        continue
                    await conn.execute(migration.sql)
                    await conn.execute(
                        self._q["insert_migration"], migration.version, migration.name, utcnow()
                    )
                applied.append(f"{migration.version:04d}_{migration.name}")
        return applied

    # -- tenants -----------------------------------------------------------------------------

    async def insert_tenant(self, tenant: Tenant) -> None:
        """Add a tenant; Conflict if the name is taken."""
        conflict = f"a tenant named {tenant.name!r} already exists"
        async with self._connection(conflict=conflict) as conn:
            await conn.execute(
                self._q["insert_tenant"],
                tenant.id,
                tenant.name,
                tenant.enabled,
                rows.ms(tenant.created_at),
            )

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        """A tenant by id."""
        row = await self._fetchrow("get_tenant", tenant_id)
        return None if row is None else rows.tenant_from(row)

    async def get_tenant_by_name(self, name: str) -> Tenant | None:
        """A tenant by its unique name."""
        row = await self._fetchrow("get_tenant_by_name", name)
        return None if row is None else rows.tenant_from(row)

    async def list_tenants(self) -> list[Tenant]:
        """All tenants, oldest first."""
        return [rows.tenant_from(row) for row in await self._fetch("list_tenants")]

    async def set_tenant_enabled(self, tenant_id: str, enabled: bool) -> bool:
        """Turn the webhook feature on or off; False if there is no such tenant."""
        changed = await self._fetchrow("set_tenant_enabled", tenant_id, enabled) is not None
        self._skip_floor.forget()  # its deliveries may be claimable again
        return changed

    # -- API keys ----------------------------------------------------------------------------

    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None:
        """Store a key by its hash; Conflict if the hash exists."""
        async with self._connection(conflict="an API key with this hash already exists") as conn:
            await conn.execute(
                self._q["insert_api_key"],
                key.id,
                key.tenant_id,
                key.role.value,
                key_hash,
                key.prefix,
                rows.ms(key.created_at),
                rows.ms_or_none(key.revoked_at),
            )

    async def find_api_key(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        """The unrevoked key with this hash, and its tenant."""
        row = await self._fetchrow("find_api_key", key_hash)
        return None if row is None else (rows.api_key_from(row), rows.key_tenant_from(row))

    async def list_api_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """Keys (revoked ones too), oldest first; all tenants' when ``tenant_id`` is None."""
        found = await self._fetch("list_api_keys", tenant_id)
        return [rows.api_key_from(row) for row in found]

    async def revoke_api_key(self, key_id: str, now: datetime) -> bool:
        """Revoke a key; False if there is no such unrevoked key."""
        return await self._fetchrow("revoke_api_key", key_id, rows.ms(now)) is not None

    async def count_api_keys(self) -> int:
        """How many keys exist at all (revoked included)."""
        row = await self._fetchrow("count_api_keys")
        assert row is not None  # an aggregate always answers one row
        return int(row[0])

    # -- event catalogue ---------------------------------------------------------------------

    async def list_event_types(self, include_removed: bool = False) -> list[EventType]:
        """The catalogue, by name."""
        found = await self._fetch("list_event_types", include_removed)
        return [rows.event_type_from(row) for row in found]

    async def upsert_event_type(self, event_type: EventType) -> bool:
        """Add a type or bring back a removed one; False if an active one exists."""
        row = await self._fetchrow(
            "upsert_event_type",
            event_type.name,
            event_type.description,
            rows.ms(event_type.created_at),
        )
        return row is not None

    async def remove_event_type(self, name: str, now: datetime) -> bool:
        """Mark a type removed; False if there is no such active type."""
        return await self._fetchrow("remove_event_type", name, rows.ms(now)) is not None

    # -- webhooks ----------------------------------------------------------------------------

    async def insert_webhook(self, webhook: Webhook) -> None:
        """Add a webhook and its subscriptions."""
        async with self._transaction(conflict="a webhook with this id already exists") as conn:
            await conn.execute(
                self._q["insert_webhook"],
                webhook.id,
                webhook.tenant_id,
                *rows.webhook_params(webhook)[2:],
                rows.ms(webhook.created_at),
                rows.ms(webhook.updated_at),
            )
            await self._subscribe(conn, webhook)

    async def get_webhook(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        """A live webhook of this tenant."""
        row = await self._fetchrow("get_webhook", tenant_id, webhook_id)
        return None if row is None else rows.webhook_from(row)

    async def list_webhooks(self, tenant_id: str, query: WebhookFilter) -> list[Webhook]:
        """Up to ``query.limit`` live webhooks, by id, after ``query.after_id``."""
        found = await self._fetch(
            "list_webhooks",
            tenant_id,
            query.enabled,
            query.event,
            query.after_id,
            query.limit,
        )
        return [rows.webhook_from(row) for row in found]

    async def update_webhook(self, webhook: Webhook, *, cancel_pending: bool) -> bool:
        """Replace a live webhook's fields and subscriptions; maybe cancel pending deliveries."""
        now = rows.ms(webhook.updated_at)
        async with self._transaction() as conn:
            updated = await conn.fetchval(
                self._q["update_webhook"], *rows.webhook_params(webhook), now
            )
            if updated is None:
                return False
            await conn.execute(self._q["delete_subscriptions"], webhook.id)
            await self._subscribe(conn, webhook)
            if cancel_pending:
                await conn.execute(self._q["cancel_pending_deliveries"], webhook.id, now)
        self._skip_floor.forget()  # enabled again, its deliveries may be claimable again
        return True

    async def delete_webhook(self, tenant_id: str, webhook_id: str, now: datetime) -> bool:
        """Soft-delete a webhook, drop its subscriptions, cancel its pending deliveries."""
        async with self._transaction() as conn:
            deleted = await conn.fetchval(
                self._q["soft_delete_webhook"], tenant_id, webhook_id, rows.ms(now)
            )
            if deleted is None:
                return False
            await conn.execute(self._q["delete_subscriptions"], webhook_id)
            await conn.execute(self._q["cancel_pending_deliveries"], webhook_id, rows.ms(now))
        return True

    # -- plumbing ----------------------------------------------------------------------------

    async def _subscribe(self, conn: Connection, webhook: Webhook) -> None:
        await conn.execute(
            self._q["insert_subscriptions"], webhook.id, webhook.tenant_id, list(webhook.events)
        )

    async def _fetchrow(self, name: str, *args: Any) -> asyncpg.Record | None:
        async with self._connection() as conn:
            return await conn.fetchrow(self._q[name], *args)

    async def _fetch(self, name: str, *args: Any) -> Sequence[asyncpg.Record]:
        async with self._connection() as conn:
            return await conn.fetch(self._q[name], *args)

    @asynccontextmanager
    async def _connection(self, *, conflict: str = "conflict") -> AsyncIterator[Connection]:
        """A pooled connection; driver errors inside become Hookline errors."""
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        try:
            conn = await pool.acquire()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # Acquiring may (re)connect: any failure here means the database is unreachable.
            raise StoreUnavailable(self._unreachable(exc)) from exc
        broken = False
        try:
            with pg_errors.translated(self._where, conflict=conflict, secret=self._secret):
                yield conn
        except StoreUnavailable:
            broken = True
            raise
        finally:
            # A connection the server dropped (a restart, pg_terminate_backend) must not go
            # back into the pool, and giving it back must not raise over the real outcome:
            # the block's own result or error is what the caller gets (found by the chaos
            # suite: a release after a restart raised asyncpg's error, and the API answered
            # 500 instead of 503).
            if broken:
                with contextlib.suppress(asyncpg.InterfaceError):  # already detached
                    if not conn.is_closed():
                        conn.terminate()
            try:
                await pool.release(conn)
            except Exception as exc:  # the pool has already dropped the connection
                log.warning("PostgreSQL connection dropped: %s", self._unreachable(exc))

    @asynccontextmanager
    async def _transaction(self, *, conflict: str = "conflict") -> AsyncIterator[Connection]:
        async with self._connection(conflict=conflict) as conn, conn.transaction():
            yield conn

    def _unreachable(self, exc: BaseException) -> str:
        return f"{self._where}: {pg_errors.short_reason(exc, secret=self._secret)}"
