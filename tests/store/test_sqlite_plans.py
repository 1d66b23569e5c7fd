"""SQLite queue queries read the live deliveries through deliveries_due, never the history.

Delivered rows stay in ``deliveries`` for the history pages, so a store that has worked for a
while holds millions of them and a few live ones. The queries the engine runs over and over
(each claim, each time it goes idle) must read only the live rows: deliveries_due is a partial
index over them, and SQLite uses a partial index only when the query's WHERE repeats the
index's (it does not infer ``status IN ('pending', 'delivering')`` from ``status = 'pending'``).
The plans are checked with EXPLAIN QUERY PLAN, on a store with a history, and the answers too.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookline.store.sql import queries
from hookline.store.sqlite import SqliteStore

Q = queries("sqlite")
NOW_MS = 1_767_225_600_000  # 2026-01-01
HISTORY = 20_000  # succeeded deliveries
# The queries the engine runs for every claim or idle turn, and the index each must use.
HOT = {
    "claim_due": "deliveries_due",
    "next_due_at": "deliveries_due",
    "queue_stats": "deliveries_due",
    "cancel_pending_deliveries": "deliveries_webhook",
}


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[sqlite3.Connection]:
    path = tmp_path / "plans.db"
    store = SqliteStore(str(path))
    await store.open()
    try:
        await store.migrate()
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO tenants VALUES ('ten_1', 'one', 1, 0)")
    conn.execute(
        "INSERT INTO webhooks (id, tenant_id, name, url, events, enabled, created_at, updated_at)"
        " VALUES ('wh_1', 'ten_1', 'one', 'http://127.0.0.1:9/', '[]', 1, 0, 0)"
    )
    conn.execute(
        "INSERT INTO events VALUES ('evt_1', 'ten_1', 'ReportPublished', NULL, x'7b7d', 0)"
    )
    rows = [
        (f"dlv_{n:06d}", "succeeded", None) for n in range(HISTORY)
    ] + [  # and three live ones: two pending (one due later), one being delivered
        ("dlv_p1", "pending", NOW_MS + 5_000),
        ("dlv_p2", "pending", NOW_MS - 1_000),
        ("dlv_l1", "delivering", NOW_MS - 9_000),
    ]
    conn.executemany(
        "INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, event, status,"
        " next_attempt_at, created_at, updated_at)"
        " VALUES (?, 'ten_1', 'wh_1', 'evt_1', 'ReportPublished', ?, ?, 0, 0)",
        rows,
    )
    conn.commit()
    try:
        yield conn
    finally:
        conn.close()


def parameters(sql: str) -> dict[str, object]:
    found = dict.fromkeys(re.findall(r":([a-z_][a-z0-9_]*)", sql))
    defaults = {"now": NOW_MS, "limit": 10, "skip": "[]", "webhook_id": "wh_1"}
    return {name: defaults.get(name) for name in found}


def reads_of_deliveries(conn: sqlite3.Connection, name: str) -> list[str]:
    sql = Q[name]
    plan = conn.execute("EXPLAIN QUERY PLAN " + sql, parameters(sql)).fetchall()
    return [row[3] for row in plan if re.search(r"\b(deliveries|d)\b", row[3])]


@pytest.mark.parametrize("name", sorted(HOT))
def test_hot_queue_queries_read_deliveries_through_an_index(
    database: sqlite3.Connection, name: str
) -> None:
    reads = reads_of_deliveries(database, name)
    assert reads, f"{name} does not read deliveries?"
    for read in reads:
        assert f"USING INDEX {HOT[name]}" in read or "USING COVERING INDEX" in read, read


def test_the_live_queries_answer_from_the_live_rows_only(database: sqlite3.Connection) -> None:
    [(next_due,)] = database.execute(Q["next_due_at"]).fetchall()
    assert next_due == NOW_MS - 1_000  # the earliest pending; not the delivering one
    sql = Q["queue_stats"]
    [(live, due, oldest)] = database.execute(sql, parameters(sql)).fetchall()
    assert (live, due, oldest) == (3, 1, NOW_MS - 1_000)  # the leased one's lease has not ended
