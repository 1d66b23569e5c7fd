"""The SQLite store: one file, one connection, one thread.

SQLite allows one writer at a time, so every call runs on a single dedicated thread that owns
the only connection: no lock contention inside the process, and calls are serialised in the
order they were made. Writes use ``BEGIN IMMEDIATE`` so a transaction takes the write lock up
front instead of failing half-way. WAL lets readers in other processes (``hookline key list``
while ``serve`` runs) read without blocking the writer. ``synchronous=FULL``: a commit is on
disk before the API answers, which is the promise behind 202 (the delivery engine's own writes
use ``NORMAL``, see ``sqlite_queue.engine_write``; every other write sets ``FULL`` again first).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from hookline.domain.deliveries import (
    AttemptLog,
    AttemptStats,
    ClaimedDelivery,
    Completion,
    Delivery,
    QueueStats,
    WebhookActivity,
)
from hookline.domain.events import NewEvent
from hookline.domain.tenants import ApiKey, Tenant
from hookline.domain.times import from_epoch_ms, to_epoch_ms
from hookline.domain.webhooks import EventType, Webhook
from hookline.errors import Conflict, StoreUnavailable
from hookline.store import listing
from hookline.store import sqlite_queue as queue
from hookline.store import sqlite_rows as rowmap
from hookline.store.base import (
    DeliveryFilter,
    IdempotencyClaim,
    LogFilter,
    PublishOutcome,
    WebhookFilter,
)
from hookline.store.json_text import json_text
from hookline.store.skip_floor import SkipFloor
from hookline.store.sql import migrations, queries
from hookline.store.sqlite_publish import PublishQueue
from hookline.store.sqlite_thread import SqliteThread

T = TypeVar("T")
Q = queries("sqlite")
MIN_SQLITE = (3, 35)  # MATERIALIZED common table expressions
BUSY_TIMEOUT_MS = 10_000


class SqliteStore:
    """:class:`~hookline.store.base.Store` on an SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._thread: SqliteThread | None = None
        self._publishes = PublishQueue(_translate)
        self._skip_floor = SkipFloor()  # where claims that skip endpoints start
        # One process owns an SQLite file, so an in-process signal is enough to wake workers.
        self._work = asyncio.Event()

    # -- plumbing --------------------------------------------------------------------------
    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, urgent: bool = False) -> T:
        """Run ``fn(conn)`` on the store's thread; ``urgent``: the delivery engine's lane."""
        if self._thread is None or self._conn is None:
            raise StoreUnavailable("the SQLite store is not open")
        conn = self._conn
        try:
            return await self._thread.submit(partial(fn, conn), urgent=urgent)
        except (sqlite3.IntegrityError, sqlite3.OperationalError) as exc:
            raise _translate(exc) from None

    _write = staticmethod(queue.write)

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        if self._conn is not None:
            return
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            # Refuse at the start, clearly, rather than fail the first publish with a syntax
            # error (the queries use MATERIALIZED, SQLite 3.35).
            raise StoreUnavailable(
                f"Hookline needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; this Python "
                f"uses SQLite {sqlite3.sqlite_version} (use a newer Python build, or PostgreSQL)"
            )
        self._thread = SqliteThread()
        try:
            self._conn = await self._thread.submit(self._connect)
        except (sqlite3.Error, OSError) as exc:
            self._thread.shutdown()
            self._thread = None
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        if self.path.parent and not self.path.parent.exists():
            raise OSError(f"directory {self.path.parent} does not exist")
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, factory=queue.StoreConnection
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # SQLite's 4 KiB pages are kept. 16 KiB pages were tried (a quarter of the WAL's and
        # the checkpoints' system calls): batch ingest +3 % and delivery +7 % in paired runs,
        # but the median publish-to-receipt latency at 500 events/s went from ~2.1 ms to
        # 3.1-5.7 ms (three runs each, in turns): every small commit writes whole pages.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")  # sorts and json_each tables: no temp files
        return conn

    async def close(self) -> None:
        conn, thread = self._conn, self._thread
        self._conn = self._thread = None
        if conn is not None and thread is not None:
            await thread.submit(conn.close)
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.shutdown)
        self._publishes.fail_all(StoreUnavailable("the SQLite store is closed"))

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
        await self._count(Q["insert_tenant"], params)

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = await self._one(Q["get_tenant"], {"id": tenant_id})
        return rowmap.tenant(row) if row else None

    async def get_tenant_by_name(self, name: str) -> Tenant | None:
        row = await self._one(Q["get_tenant_by_name"], {"name": name})
        return rowmap.tenant(row) if row else None

    async def list_tenants(self) -> list[Tenant]:
        return [rowmap.tenant(r) for r in await self._all(Q["list_tenants"], {})]

    async def set_tenant_enabled(self, tenant_id: str, enabled: bool) -> bool:
        params = {"id": tenant_id, "enabled": int(enabled)}
        changed = await self._changed(Q["set_tenant_enabled"], params)
        self._skip_floor.forget()  # its deliveries may be claimable again
        return changed

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
        await self._count(Q["insert_api_key"], params)

    async def find_api_key(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        row = await self._one(Q["find_api_key"], {"key_hash": key_hash})
        if row is None:
            return None
        tenant = Tenant(
            row["t_id"], row["t_name"], bool(row["t_enabled"]), from_epoch_ms(row["t_created_at"])
        )
        return rowmap.api_key(row), tenant

    async def list_api_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        rows = await self._all(Q["list_api_keys"], {"tenant_id": tenant_id})
        return [rowmap.api_key(r) for r in rows]

    async def revoke_api_key(self, key_id: str, now: datetime) -> bool:
        return await self._changed(Q["revoke_api_key"], {"id": key_id, "now": _ms(now)})

    async def count_api_keys(self) -> int:
        row = await self._one(Q["count_api_keys"], {})
        return int(row[0]) if row else 0

    # -- event catalogue -------------------------------------------------------------------
    async def list_event_types(self, include_removed: bool = False) -> list[EventType]:
        rows = await self._all(Q["list_event_types"], {"include_removed": int(include_removed)})
        return [rowmap.event_type(r) for r in rows]

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
        params = rowmap.webhook_params(webhook)

        def insert(conn: sqlite3.Connection) -> None:
            with self._write(conn):
                conn.execute(Q["insert_webhook"], params)
                _subscribe(conn, webhook)

        await self._run(insert)

    async def get_webhook(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        row = await self._one(Q["get_webhook"], {"id": webhook_id, "tenant_id": tenant_id})
        return rowmap.webhook(row) if row else None

    async def list_webhooks(self, tenant_id: str, query: WebhookFilter) -> list[Webhook]:
        params = {
            "tenant_id": tenant_id,
            "after_id": query.after_id,
            "enabled": None if query.enabled is None else int(query.enabled),
            "event": query.event,
            "limit": query.limit,
        }
        return [rowmap.webhook(r) for r in await self._all(Q["list_webhooks"], params)]

    async def update_webhook(self, webhook: Webhook, *, cancel_pending: bool) -> bool:
        params = rowmap.webhook_params(webhook)

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

        updated = await self._run(update)
        self._skip_floor.forget()  # enabled again, its deliveries may be claimable again
        return updated

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

    # -- publishing --------------------------------------------------------------------------
    async def publish(
        self, events: list[NewEvent], idempotency: IdempotencyClaim | None, now: datetime
    ) -> PublishOutcome:
        if self._thread is None or self._conn is None:
            raise StoreUnavailable("the SQLite store is not open")
        future, first = self._publishes.add(events, idempotency, now)
        if first:  # else the group already queued on the thread takes this request too
            self._write_publishes()
        outcome = await future
        if outcome.replayed is None and any(r.deliveries for r in outcome.results):
            self._work.set()
        return outcome

    def _write_publishes(self, done: asyncio.Future[bool] | None = None) -> None:
        """Queue one group write on the thread; again when it is done and more are queued."""
        if done is not None and (done.cancelled() or done.exception() or not done.result()):
            return
        if self._thread is None or self._conn is None:
            self._publishes.fail_all(StoreUnavailable("the SQLite store is closed"))
            return
        write = self._thread.submit(partial(self._publishes.write_group, self._conn))
        write.add_done_callback(self._write_publishes)

    async def wait_for_work(self, max_wait: float) -> bool:
        try:
            async with asyncio.timeout(max_wait):
                await self._work.wait()
        except TimeoutError:
            return False
        self._work.clear()
        return True

    # -- the queue -----------------------------------------------------------------------------
    async def claim_due(
        self, now: datetime, limit: int, lease_until: datetime, token: str
    ) -> list[ClaimedDelivery]:
        return await self.claim_due_skipping(now, limit, lease_until, token, ())

    async def claim_due_skipping(
        self,
        now: datetime,
        limit: int,
        lease_until: datetime,
        token: str,
        skip_webhooks: Sequence[str],
    ) -> list[ClaimedDelivery]:
        now_ms = _ms(now)
        start = self._skip_floor.start(skip_webhooks, now_ms)
        claim = partial(
            queue.claim,
            now_ms=now_ms,
            limit=limit,
            lease_until_ms=_ms(lease_until),
            token=token,
            skip=skip_webhooks,
            floor_ms=start,
        )
        rows, oldest = await self._run(claim, urgent=True)
        self._skip_floor.claimed(skip_webhooks, start, oldest, now_ms)
        return [rowmap.claimed(row) for row in rows]

    async def complete(self, completions: list[Completion], now: datetime) -> int:
        if not completions:
            return 0
        batch = json_text([queue.completion_row(c) for c in completions])
        # Completions are attempts of deliveries: each sent its event's body.
        logs = json_text([rowmap.log_row(c.log, body_of_event=True) for c in completions])
        write = partial(queue.complete, batch=batch, logs=logs, now_ms=_ms(now))
        return await self._run(write, urgent=True)

    async def release(self, leases: list[tuple[str, str]], next_attempt_at: datetime) -> int:
        if not leases:
            return 0
        write = partial(
            queue.release,
            leases=json_text(leases),
            due_ms=_ms(next_attempt_at),
            now_ms=_ms(None),
        )
        return await self._run(write, urgent=True)

    async def next_due_at(self) -> datetime | None:
        # The engine's question (when it goes idle): on its lane, not behind publishes.
        sql = Q["next_due_at"]
        row: sqlite3.Row | None = await self._run(lambda c: c.execute(sql).fetchone(), urgent=True)
        return None if row is None or row[0] is None else from_epoch_ms(row[0])

    async def queue_stats(self, now: datetime) -> QueueStats:
        now_ms = _ms(now)
        row = await self._one(Q["queue_stats"], {"now": now_ms})
        if row is None:
            return QueueStats(0, 0, 0.0)
        oldest = row["oldest_due"]
        age = 0.0 if oldest is None else max(0.0, (now_ms - oldest) / 1000)
        return QueueStats(int(row["live"]), int(row["due"]), age)

    async def cancel_orphans(self, now: datetime) -> int:
        return await self._count(Q["cancel_orphans"], {"now": _ms(now)})

    async def purge(self, logs_before: datetime, idempotency_before: datetime) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            with self._write(conn):
                logs = conn.execute(Q["purge_logs"], {"before": _ms(logs_before)}).rowcount
                keys = conn.execute(
                    Q["purge_idempotency"], {"before": _ms(idempotency_before)}
                ).rowcount
                return int(logs + keys)

        return await self._run(purge)

    # -- history -------------------------------------------------------------------------------
    async def insert_log(self, log: AttemptLog) -> None:
        params = rowmap.log_params(log)
        await self._count(Q["insert_log"], params)

    async def list_logs(self, tenant_id: str, query: LogFilter) -> list[AttemptLog]:
        terms = listing.log_terms(query, time=_ms, flag=int)
        sql = Q["list_logs"]
        rows = await self._all(*_listed(sql, terms, tenant_id, query.limit, _LOG_INDEXES))
        return [rowmap.log(r) for r in rows]

    async def get_log(self, tenant_id: str, log_id: str) -> AttemptLog | None:
        row = await self._one(Q["get_log"], {"id": log_id, "tenant_id": tenant_id})
        return rowmap.log(row) if row else None

    async def list_deliveries(self, tenant_id: str, query: DeliveryFilter) -> list[Delivery]:
        terms = listing.delivery_terms(query)
        sql = Q["list_deliveries"]
        rows = await self._all(*_listed(sql, terms, tenant_id, query.limit, _DELIVERY_INDEXES))
        return [rowmap.delivery(r) for r in rows]

    async def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        row = await self._one(Q["get_delivery"], {"id": delivery_id, "tenant_id": tenant_id})
        return rowmap.delivery(row) if row else None

    async def insert_delivery(self, delivery: Delivery) -> None:
        params = {
            "id": delivery.id,
            "tenant_id": delivery.tenant_id,
            "webhook_id": delivery.webhook_id,
            "event_id": delivery.event_id,
            "event": delivery.event,
            "trigger": delivery.trigger.value,
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "next_attempt_at": rowmap.opt_ms(delivery.next_attempt_at),
            "created_at": _ms(delivery.created_at),
            "updated_at": _ms(delivery.updated_at),
        }
        await self._count(Q["insert_delivery"], params)
        self._work.set()

    # -- summaries for the web UI ----------------------------------------------------------------
    async def attempt_stats(self, tenant_id: str, since: datetime) -> AttemptStats:
        row = await self._one(Q["attempt_stats"], {"tenant_id": tenant_id, "since": _ms(since)})
        return AttemptStats(int(row["total"]), int(row["succeeded"])) if row else AttemptStats(0, 0)

    async def webhook_activity(
        self, tenant_id: str, webhook_ids: list[str], failed_since: datetime
    ) -> list[WebhookActivity]:
        params = {
            "tenant_id": tenant_id,
            "ids": json.dumps(webhook_ids),
            "failed_since": _ms(failed_since),
        }
        return [
            WebhookActivity(
                webhook_id=row["webhook_id"],
                last_attempt_at=rowmap.opt_time(row["created_at"]),
                last_success=None if row["success"] is None else bool(row["success"]),
                last_status_code=row["status_code"],
                failed_recently=int(row["failed_recently"]),
            )
            for row in await self._all(Q["webhook_activity"], params)
        ]

    # -- small helpers ---------------------------------------------------------------------
    async def _one(self, sql: str, params: dict[str, Any]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self._run(lambda c: c.execute(sql, params).fetchone())
        return row

    async def _all(self, sql: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = await self._run(lambda c: c.execute(sql, params).fetchall())
        return rows

    async def _changed(self, sql: str, params: dict[str, Any]) -> bool:
        return await self._count(sql, params) > 0

    async def _count(self, sql: str, params: dict[str, Any] | tuple[Any, ...]) -> int:
        """One write statement, its own transaction, committed to disk: rows changed."""

        def run(conn: sqlite3.Connection) -> int:
            queue.synchronous(conn, full=True)  # (the engine's last write may have set NORMAL)
            return int(conn.execute(sql, params).rowcount)

        return await self._run(run)


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


# Without statistics SQLite prefers an index that yields the page's order, (tenant_id, id),
# over one that finds the few rows of a delivery or an event and needs a sort: it then reads the
# tenant's whole history (seconds at a million rows). For those filters the index is named.
_LOG_INDEXES = {"delivery_id": "delivery_logs_delivery"}
_DELIVERY_INDEXES = {"event_id": "deliveries_event"}
_INDEX = "/* index */"


def _listed(
    sql: str, terms: list[listing.Term], tenant_id: str, limit: int, indexes: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """A list query with the filters given, and its parameters."""
    params: dict[str, Any] = {term.name: term.value for term in terms}
    params.update(tenant_id=tenant_id, limit=limit)
    index = next((indexes[t.name] for t in terms if t.name in indexes), None)
    sql = sql.replace(_INDEX, "" if index is None else f"INDEXED BY {index}")
    return listing.with_terms(sql, terms, lambda _, term: ":" + term.name), params


def _translate(exc: BaseException) -> BaseException:
    """A driver error as the store's error (others pass as they are)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(_conflict_message(exc))
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(f"SQLite error: {exc}")
    return exc


def _conflict_message(exc: sqlite3.IntegrityError) -> str:
    text = str(exc)
    if "tenants.name" in text:
        return "a tenant with that name exists"
    if "api_keys.key_hash" in text:
        return "that key exists"
    return "that conflicts with an existing record"


def _subscribe(conn: sqlite3.Connection, webhook: Webhook) -> None:
    conn.executemany(
        Q["insert_subscription"],
        [
            {"webhook_id": webhook.id, "tenant_id": webhook.tenant_id, "event": e}
            for e in webhook.events
        ],
    )
