"""Read the store's final state straight from the database, and check its integrity.

SQLite: ``PRAGMA integrity_check`` and ``foreign_key_check``. PostgreSQL: amcheck
(``bt_index_check`` on every B-tree index, ``verify_heapam`` on every table) when the extension
exists, and consistency queries (every delivery's event and webhook exists, every log's
delivery exists, no finished delivery keeps a lease).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
from tests.chaos.checker import DbState

DELIVERIES = (
    "SELECT d.id, d.event_id, w.name, d.status, d.attempts FROM deliveries d "
    "JOIN webhooks w ON w.id = d.webhook_id"
)
LOGS = "SELECT delivery_id, attempt, success FROM delivery_logs WHERE delivery_id IS NOT NULL"
CONSISTENCY = {
    "deliveries without their event": "SELECT count(*) FROM deliveries d "
    "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id)",
    "deliveries without their webhook": "SELECT count(*) FROM deliveries d "
    "WHERE NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id)",
    "logs without their delivery": "SELECT count(*) FROM delivery_logs l "
    "WHERE l.delivery_id IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = l.delivery_id)",
    "finished deliveries still due": "SELECT count(*) FROM deliveries "
    "WHERE status IN ('succeeded', 'failed') AND next_attempt_at IS NOT NULL",
}


def _state(events: Any, deliveries: Any, logs: Any, integrity: list[str], how: str) -> DbState:
    return DbState(
        integrity_checks=how,
        events={str(row[0]) for row in events},
        deliveries=[
            {"id": r[0], "event": r[1], "webhook": r[2], "status": r[3], "attempts": r[4]}
            for r in deliveries
        ],
        logs=[{"delivery": r[0], "attempt": r[1], "success": bool(r[2])} for r in logs],
        integrity=integrity,
    )


def read_sqlite(path: Path) -> DbState:
    conn = sqlite3.connect(path, timeout=30)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in conn.execute("PRAGMA foreign_key_check")]
        for what, query in CONSISTENCY.items():
            if (n := conn.execute(query).fetchone()[0]) != 0:
                problems.append(f"{what}: {n}")
        return _state(
            conn.execute("SELECT id FROM events"),
            conn.execute(DELIVERIES),
            conn.execute(LOGS),
            problems,
            "PRAGMA integrity_check, foreign_key_check, consistency queries",
        )
    finally:
        conn.close()


async def _read_postgres(url: str) -> DbState:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        problems = []
        how = "consistency queries"
        for what, query in CONSISTENCY.items():
            if (n := await conn.fetchval(query)) != 0:
                problems.append(f"{what}: {n}")
        if await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name='amcheck'"):
            await conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            how = "amcheck (bt_index_check, verify_heapam), consistency queries"
            indexes = await conn.fetch(
                "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_am am ON am.oid = c.relam "
                "WHERE am.amname = 'btree' AND c.relnamespace = 'public'::regnamespace"
            )
            for index in indexes:  # raises on corruption
                try:
                    await conn.execute(
                        "SELECT bt_index_check($1::regclass, true)", index["relname"]
                    )
                except asyncpg.PostgresError as exc:
                    problems.append(f"index {index['relname']}: {exc}")
            tables = await conn.fetch(
                "SELECT oid, relname FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
            for table in tables:
                rows = await conn.fetch(
                    "SELECT * FROM verify_heapam($1::regclass)", table["relname"]
                )
                problems += [f"heap {table['relname']}: {dict(r)}" for r in rows]
        return _state(
            await conn.fetch("SELECT id FROM events"),
            await conn.fetch(DELIVERIES),
            await conn.fetch(LOGS),
            problems,
            how,
        )
    finally:
        await conn.close()


def read_postgres(url: str) -> DbState:
    return asyncio.run(_read_postgres(url))
