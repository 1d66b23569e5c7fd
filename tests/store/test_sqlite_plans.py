"""SQLite's hot queries read through the index that fits, never the whole history.

Delivered rows stay in ``deliveries`` for the history pages, so a store that has worked for a
while holds millions of them and a few live ones. The queries the engine runs over and over
(each claim, each time it goes idle) must read only the live rows: deliveries_due is a partial
index over them, and SQLite uses a partial index only when the query's WHERE repeats the
index's (it does not infer ``status IN ('pending', 'delivering')`` from ``status = 'pending'``).
The plans are checked with EXPLAIN QUERY PLAN, on a store with a history, and the answers too.

The history's list pages (logs and deliveries, by webhook, event or delivery) must likewise
read the index of the filter given, not the tenant's every row (store/listing.py).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookline.domain.deliveries import DeliveryStatus
from hookline.store import listing
from hookline.store.base import DeliveryFilter, LogFilter
from hookline.store.sql import queries
from hookline.store.sqlite import _DELIVERY_INDEXES, _LOG_INDEXES, SqliteStore, _listed

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


LOG_FILTERS = {  # a filter given -> the index that finds its rows
    "none": (LogFilter(), "delivery_logs_tenant"),
    "webhook": (LogFilter(webhook_id="wh_1"), "delivery_logs_webhook"),
    "event": (LogFilter(event_id="evt_1"), "delivery_logs_event"),
    "delivery": (LogFilter(delivery_id="dlv_p1"), "delivery_logs_delivery"),
    "delivery and webhook": (
        LogFilter(delivery_id="dlv_p1", webhook_id="wh_1"),
        "delivery_logs_delivery",
    ),
}
DELIVERY_FILTERS = {
    "none": (DeliveryFilter(), "deliveries_tenant"),
    "webhook": (DeliveryFilter(webhook_id="wh_1"), "deliveries_webhook"),
    "event": (DeliveryFilter(event_id="evt_1"), "deliveries_event"),
    "event and webhook": (DeliveryFilter(event_id="evt_1", webhook_id="wh_1"), "deliveries_event"),
}


def plan_of(conn: sqlite3.Connection, sql: str, params: dict[str, object]) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


@pytest.mark.parametrize("case", sorted(LOG_FILTERS))
def test_log_lists_read_the_index_of_the_filter_given(
    database: sqlite3.Connection, case: str
) -> None:
    query, index = LOG_FILTERS[case]
    terms = listing.log_terms(query, time=lambda t: 0, flag=int)
    plan = plan_of(database, *_listed(Q["list_logs"], terms, "ten_1", 50, _LOG_INDEXES))
    assert f"USING INDEX {index} " in plan[0], plan
    assert len(plan) <= 2, plan  # (and maybe a sort of the rows found)


@pytest.mark.parametrize("case", sorted(DELIVERY_FILTERS))
def test_delivery_lists_read_the_index_of_the_filter_given(
    database: sqlite3.Connection, case: str
) -> None:
    query, index = DELIVERY_FILTERS[case]
    terms = listing.delivery_terms(query)
    sql = Q["list_deliveries"]
    plan = plan_of(database, *_listed(sql, terms, "ten_1", 50, _DELIVERY_INDEXES))
    assert f"USING INDEX {index} " in plan[0], plan
    assert len(plan) <= 2, plan


async def test_filtered_lists_answer_the_rows_of_their_filters(
    sqlite_store: SqliteStore,
) -> None:
    await sqlite_store._run(_history)
    quiet = await sqlite_store.list_deliveries("ten_1", DeliveryFilter(webhook_id="wh_2"))
    assert [d.id for d in quiet] == ["dlv_q2", "dlv_q1"]
    of_event = await sqlite_store.list_deliveries("ten_1", DeliveryFilter(event_id="evt_2"))
    assert [d.id for d in of_event] == ["dlv_q2"]
    pending = await sqlite_store.list_deliveries(
        "ten_1", DeliveryFilter(webhook_id="wh_2", status=DeliveryStatus.PENDING)
    )
    assert [d.id for d in pending] == ["dlv_q1"]
    page = await sqlite_store.list_deliveries(
        "ten_1", DeliveryFilter(webhook_id="wh_1", before_id="dlv_000003", limit=2)
    )
    assert [d.id for d in page] == ["dlv_000002", "dlv_000001"]
    assert await sqlite_store.list_deliveries("ten_2", DeliveryFilter(webhook_id="wh_2")) == []


def _history(conn: sqlite3.Connection) -> None:
    """A tenant with a busy webhook (wh_1, 50 deliveries) and a quiet one (wh_2, 2)."""
    conn.execute("INSERT INTO tenants VALUES ('ten_1', 'one', 1, 0), ('ten_2', 'two', 1, 0)")
    for hook in ("wh_1", "wh_2"):
        conn.execute(
            "INSERT INTO webhooks (id, tenant_id, name, url, events, enabled, created_at,"
            " updated_at) VALUES (?, 'ten_1', ?, 'http://127.0.0.1:9/', '[]', 1, 0, 0)",
            (hook, hook),
        )
    for event in ("evt_1", "evt_2"):
        conn.execute(
            "INSERT INTO events VALUES (?, 'ten_1', 'ReportPublished', NULL, x'7b7d', 0)",
            (event,),
        )
    rows = [(f"dlv_{n:06d}", "wh_1", "evt_1", "succeeded") for n in range(50)]
    rows += [("dlv_q1", "wh_2", "evt_1", "pending"), ("dlv_q2", "wh_2", "evt_2", "failed")]
    conn.executemany(
        "INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, event, status,"
        " created_at, updated_at) VALUES (?, 'ten_1', ?, ?, 'ReportPublished', ?, 0, 0)",
        rows,
    )


def test_the_status_page_counts_only_the_window_s_logs(database: sqlite3.Connection) -> None:
    sql = Q["attempt_stats"]
    plan = plan_of(database, sql, {"tenant_id": "ten_1", "since": NOW_MS})
    assert plan == ["SEARCH delivery_logs USING INDEX delivery_logs_created (created_at>?)"]


def test_a_webhook_s_recent_failures_are_counted_from_the_failed_ones_only(
    database: sqlite3.Connection,
) -> None:
    """deliveries_failed (migration 0002) holds failed deliveries only: the count of a
    webhook's recent failures no longer reads every delivery it ever had."""
    database.executemany(
        "UPDATE deliveries SET status = 'failed', updated_at = ? WHERE id = ?",
        [(NOW_MS - 10, "dlv_000001"), (NOW_MS + 10, "dlv_000002"), (NOW_MS + 20, "dlv_000003")],
    )
    params = {"tenant_id": "ten_1", "ids": '["wh_1"]', "failed_since": NOW_MS}
    sql = Q["webhook_activity"]
    reads = [read for read in plan_of(database, sql, params) if read.startswith("SEARCH d ")]
    assert reads == ["SEARCH d USING INDEX deliveries_failed (webhook_id=? AND updated_at>?)"]
    [row] = database.execute(sql, params).fetchall()
    assert row[0] == "wh_1"
    assert row[-1] == 2  # failed_recently: the two failed at or after failed_since
