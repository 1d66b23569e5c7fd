"""Raw SQL for store tests: rows the Store interface does not write (yet), and peeks behind it.

One SQL text serves both dialects: ``?`` placeholders become ``$1, $2...`` on PostgreSQL, and
datetimes become epoch milliseconds on SQLite (how that dialect keeps times).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from hookline.domain.times import from_epoch_ms, to_epoch_ms
from hookline.store import Store, open_store
from hookline.store.sqlite import SqliteStore


class RawSql:
    """Direct access to the database behind a store URL, bypassing the store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite:///") else "postgres"

    async def execute(self, sql: str, *args: Any) -> None:
        """Run one statement and commit."""
        await self.fetch(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run one statement, commit, and return its rows as tuples."""
        if self.dialect == "sqlite":
            params = [to_epoch_ms(a) if isinstance(a, datetime) else a for a in args]
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=10)
            try:
                found = [tuple(row) for row in conn.execute(sql, params).fetchall()]
                conn.commit()
            finally:
                conn.close()
            return found
        counter = iter(range(1, len(args) + 1))
        numbered = re.sub(r"\?", lambda _: f"${next(counter)}", sql)
        pg = await asyncpg.connect(self.url, timeout=5)
        try:
            return [tuple(row) for row in await pg.fetch(numbered, *args)]
        finally:
            await pg.close()

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row, all in one transaction (bulk setup)."""
        if self.dialect == "sqlite":
            params = [
                [to_epoch_ms(a) if isinstance(a, datetime) else a for a in row] for row in rows
            ]
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=10)
            try:
                conn.executemany(sql, params)
                conn.commit()
            finally:
                conn.close()
            return
        counter = iter(range(1, sql.count("?") + 1))
        numbered = re.sub(r"\?", lambda _: f"${next(counter)}", sql)
        pg = await asyncpg.connect(self.url, timeout=5)
        try:
            await pg.executemany(numbered, rows)
        finally:
            await pg.close()

    def time(self, value: Any) -> datetime | None:
        """A time column read raw, as an aware UTC datetime."""
        if value is None or isinstance(value, datetime):
            return value
        return from_epoch_ms(int(value))

    # -- the rows contract tests need -------------------------------------------------------

    async def insert_event(self, event_id: str, tenant_id: str, event: str, at: datetime) -> None:
        """An ``events`` row."""
        await self.execute(
            "INSERT INTO events (id, tenant_id, event, client_cuid, body, created_at)"
            " VALUES (?, ?, ?, NULL, ?, ?)",
            event_id,
            tenant_id,
            event,
            b'{"data":{}}',
            at,
        )

    async def insert_delivery(
        self,
        delivery_id: str,
        *,
        tenant_id: str,
        webhook_id: str,
        event_id: str,
        event: str,
        status: str,
        at: datetime,
    ) -> None:
        """A ``deliveries`` row in ``status``."""
        await self.execute(
            "INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, event, status,"
            " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            delivery_id,
            tenant_id,
            webhook_id,
            event_id,
            event,
            status,
            at,
            at,
            at,
        )

    async def delivery(self, delivery_id: str) -> tuple[str, datetime | None]:
        """A delivery's status and updated_at."""
        rows = await self.fetch(
            "SELECT status, updated_at FROM deliveries WHERE id = ?", delivery_id
        )
        assert len(rows) == 1, rows
        return rows[0][0], self.time(rows[0][1])

    async def subscriptions(self, webhook_id: str) -> list[tuple[str, str]]:
        """The ``webhook_subscriptions`` rows of a webhook as (tenant_id, event), sorted."""
        rows = await self.fetch(
            "SELECT tenant_id, event FROM webhook_subscriptions WHERE webhook_id = ?"
            " ORDER BY event",
            webhook_id,
        )
        return [(row[0], row[1]) for row in rows]

    async def migration_versions(self) -> list[int]:
        """The versions recorded in ``schema_migrations``."""
        rows = await self.fetch("SELECT version FROM schema_migrations ORDER BY version")
        return [int(row[0]) for row in rows]


@pytest.fixture
def raw(database_url: str) -> RawSql:
    """Raw SQL on the same database as the ``store`` fixture."""
    return RawSql(database_url)


@pytest.fixture
def raw_sql() -> type[RawSql]:
    """The RawSql class, for tests that need raw SQL on a URL of their own."""
    return RawSql


@pytest.fixture
async def other_store(database_url: str, store: Store) -> AsyncIterator[Store]:
    """A second, separately opened store on the same database as ``store``: to the database,
    another process (concurrent claimers, concurrent publishes, cross-process wake-ups)."""
    opened = open_store(database_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[SqliteStore]:
    """An opened and migrated SQLite store (for tests of what only that store does)."""
    store = SqliteStore(sqlite_url.removeprefix("sqlite:///"))
    await store.open()
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()
