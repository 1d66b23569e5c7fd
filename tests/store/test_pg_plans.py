"""PostgreSQL queue queries on a large queue whose tables were never analysed.

Autovacuum may be off, and a backlog of a million can be published between two ANALYZEs: the
hot queries must then still read the due index in order instead of sorting the queue. The
plans are checked with EXPLAIN (which nodes, never timings), without statistics and with them,
as custom and as generic plans (asyncpg prepares statements; after a few runs PostgreSQL may
switch to a generic plan). The rows claimed are checked against the order computed here.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from hookline.store import listing
from hookline.store.base import DeliveryFilter
from hookline.store.pg_queue import _listed
from hookline.store.postgres import PostgresStore
from hookline.store.sql import queries

pytestmark = pytest.mark.postgres

Q = queries("postgres")
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
QUEUE = 20_000  # deliveries: without claim_settings, the claim then sorts all that are due
LIVE_HOOKS, DEAD_HOOKS = 8, 2  # the dead ones: a disabled webhook, one of a disabled tenant

# Every delivery: (id, webhook id, due at); ids sort in insertion order.
Queue = list[tuple[str, str, datetime]]


@pytest.fixture
async def queue(postgres_url: str) -> AsyncIterator[tuple[asyncpg.Connection[Any], Queue]]:
    """A database with QUEUE pending deliveries at random due times, and no statistics."""
    conn: asyncpg.Connection[Any] = await asyncpg.connect(postgres_url)
    rng = random.Random(6)
    hooks = [f"wh_{i}" for i in range(LIVE_HOOKS + DEAD_HOOKS)]
    due_ms = rng.sample(range(-3_600_000, 600_000), QUEUE)  # distinct: one right order
    rows: Queue = [
        (f"dlv_{n:06d}", rng.choice(hooks), NOW + timedelta(milliseconds=ms))
        for n, ms in enumerate(due_ms)
    ]
    try:
        await conn.execute(
            "INSERT INTO tenants VALUES ('ten_on', 'on', TRUE, $1), ('ten_off', 'off', FALSE, $1)",
            NOW,
        )
        await conn.execute(
            "INSERT INTO events VALUES ('evt_1', 'ten_on', 'ReportPublished', NULL, '{}', $1)", NOW
        )
        await conn.executemany(
            """INSERT INTO webhooks (id, tenant_id, name, url, events, enabled, created_at,
                                     updated_at)
               VALUES ($1, $2, $1, 'http://127.0.0.1:9/', '["ReportPublished"]', $3, $4, $4)""",
            [
                (hook, "ten_off" if i == LIVE_HOOKS + 1 else "ten_on", i != LIVE_HOOKS, NOW)
                for i, hook in enumerate(hooks)
            ],
        )
        await conn.copy_records_to_table(
            "deliveries",
            columns=["id", "tenant_id", "webhook_id", "event_id", "event", "status",
                     "next_attempt_at", "created_at", "updated_at"],
            records=[
                (i, "ten_off" if h == hooks[-1] else "ten_on", h, "evt_1", "ReportPublished",
                 "pending", due, NOW, NOW)
                for i, h, due in rows
            ],
        )  # fmt: skip
        await forget_statistics(conn)
        yield conn, rows
    finally:
        await conn.close()


async def forget_statistics(conn: asyncpg.Connection[Any]) -> None:
    """Make the tables look never analysed (as with autovacuum off): our own database only."""
    await conn.execute(
        """DELETE FROM pg_statistic WHERE starelid IN (
               SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace);
           UPDATE pg_class SET reltuples = -1, relpages = 0
           WHERE relnamespace = 'public'::regnamespace"""
    )


def eligible(rows: Queue, now: datetime) -> list[str]:
    """Ids a claim at ``now`` may take, in the order it must take them."""
    live = {f"wh_{i}" for i in range(LIVE_HOOKS)}
    due = [(at, i) for i, hook, at in rows if hook in live and at <= now]
    return [i for _, i in sorted(due)]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def explain(conn: asyncpg.Connection[Any], name: str, *args: Any) -> list[dict[str, Any]]:
    """Every node of the plan of query ``name`` (not run: EXPLAIN without ANALYZE).

    EXPLAIN of a statement with parameters plans it for their values whatever the
    plan_cache_mode, so the query is PREPAREd and its EXECUTE explained: that plan is the one a
    prepared statement (asyncpg's) runs with, generic under ``force_generic_plan``."""
    await conn.execute(f"PREPARE explained AS {Q[name]}")
    try:
        values = ", ".join(literal(arg) for arg in args)
        execute = f"EXECUTE explained({values})" if args else "EXECUTE explained"
        found = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {execute}")
    finally:
        await conn.execute("DEALLOCATE explained")
    return list(nodes(json.loads(found)[0]["Plan"]))


def literal(value: Any) -> str:
    """A test's parameter as SQL (plain ids and times only)."""
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        assert "'" not in value
        return f"'{value}'"
    return "ARRAY[" + ", ".join(literal(v) for v in value) + "]::text[]"


def queue_scans(plan: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(node type, index) of every scan of the deliveries table."""
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in plan
        if node.get("Relation Name") == "deliveries"
    ]


CLAIM = (NOW, 100, NOW + timedelta(seconds=10), "tok", ["wh_full_endpoint"])
HOT = {  # case: (query, its parameters)
    "claim_due": ("claim_due", (*CLAIM, datetime.min.replace(tzinfo=UTC))),
    "claim_due-from-a-skip-floor": ("claim_due", (*CLAIM, NOW - timedelta(minutes=1))),
    "next_due_at": ("next_due_at", ()),
    "oldest_due": ("oldest_due", (NOW,)),
}


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("analysed", [False, True], ids=["no-statistics", "analysed"])
@pytest.mark.parametrize("case", sorted(HOT))
async def test_hot_queue_queries_read_the_due_index_in_order(
    queue: tuple[asyncpg.Connection[Any], Queue], case: str, analysed: bool, mode: str
) -> None:
    conn, _ = queue
    name, args = HOT[case]
    if analysed:
        await conn.execute("ANALYZE")
    await conn.execute(f"SET plan_cache_mode = {mode}")
    async with conn.transaction():
        if name == "claim_due":
            await conn.execute(Q["claim_settings"])  # as PgQueue.claim_due does
        plan = await explain(conn, name, *args)
    scans = queue_scans(plan)
    # The queue is read from deliveries_due (in its order, so no Sort of the queue); any
    # other read of deliveries is by primary key (the claim's UPDATE of the rows picked).
    assert ("Index Scan", "deliveries_due") in scans
    allowed = {("Index Scan", "deliveries_due"), ("Index Scan", "deliveries_pkey")}
    assert set(scans) <= allowed | {("ModifyTable", None)}
    # The one sort allowed: the claim's final ordering of the (at most 100) rows it leased.
    sorts = [n["Sort Key"] for n in plan if n["Node Type"] == "Sort"]
    assert sorts == ([["l.next_attempt_at", "l.id"]] if name == "claim_due" else [])
    if name == "claim_due":  # the read starts at the floor: a bound of the index range
        [due_scan] = [n for n in plan if n.get("Index Name") == "deliveries_due"]
        assert "(next_attempt_at >= " in due_scan["Index Cond"]


async def test_claims_on_a_large_unanalysed_queue_take_due_rows_in_due_order(
    queue: tuple[asyncpg.Connection[Any], Queue], postgres_url: str
) -> None:
    conn, rows = queue
    expected = eligible(rows, NOW)
    assert len(expected) > 300  # and some due rows are of the dead webhooks: skipped
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        lease = NOW + timedelta(seconds=30)
        got = []
        for token in ("a", "b", "c"):
            claimed = await store.claim_due(NOW, 100, lease, token)
            assert {c.lease_token for c in claimed} == {token}
            got += [c.id for c in claimed]
        assert got == expected[:300]
        # The plan stayed the index scan: still no statistics after all that.
        assert (
            await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'deliveries'") == -1
        )
    finally:
        await store.close()


async def test_queue_stats_on_a_large_unanalysed_queue(
    queue: tuple[asyncpg.Connection[Any], Queue], postgres_url: str
) -> None:
    _, rows = queue
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        stats = await store.queue_stats(NOW)
        due = [at for _, _, at in rows if at <= NOW]
        assert (stats.live, stats.due) == (QUEUE, len(due))
        assert stats.oldest_due_seconds == (NOW - min(due)).total_seconds()
        assert await store.next_due_at() == min(at for _, _, at in rows)
    finally:
        await store.close()


async def test_the_claims_settings_end_with_its_transaction(
    queue: tuple[asyncpg.Connection[Any], Queue], postgres_url: str
) -> None:
    store = PostgresStore(postgres_url)
    await store.open()  # a pool of one connection at first: the later queries reuse it
    try:
        claimed = await store.claim_due(NOW, 5, NOW + timedelta(seconds=30), "tok")
        assert await store.release([(c.id, "tok") for c in claimed], NOW) == 5
        async with store._connection() as conn:
            settings = await conn.fetchrow(
                """SELECT current_setting('enable_bitmapscan') AS bitmap,
                          current_setting('enable_seqscan') AS seq,
                          current_setting('synchronous_commit') AS sync"""
            )
            assert settings is not None
        assert (settings["bitmap"], settings["seq"], settings["sync"]) == ("on", "on", "on")
    finally:
        await store.close()


@pytest.mark.parametrize("analysed", [False, True], ids=["no-statistics", "analysed"])
async def test_a_quiet_webhook_s_deliveries_are_listed_from_its_index(
    queue: tuple[asyncpg.Connection[Any], Queue], analysed: bool
) -> None:
    """Only the filters given are in the list query's text (store/listing.py). A text with
    every filter optional, ``($2 IS NULL OR webhook_id = $2)``, has one plan for all values,
    and a page of a quiet webhook's deliveries then reads the tenant's whole history."""
    conn, _ = queue
    await conn.execute(
        """INSERT INTO webhooks (id, tenant_id, name, url, events, enabled, created_at,
                                 updated_at)
           VALUES ('wh_quiet', 'ten_on', 'quiet', 'http://127.0.0.1:9/', '[]', TRUE, $1, $1)""",
        NOW,
    )
    quiet = ["dlv_q1", "dlv_q2", "dlv_q3"]
    await conn.executemany(
        """INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, event, status,
                                   created_at, updated_at)
           VALUES ($1, 'ten_on', 'wh_quiet', 'evt_1', 'ReportPublished', 'failed', $2, $2)""",
        [(i, NOW) for i in quiet],
    )
    if analysed:
        await conn.execute("ANALYZE")
    terms = listing.delivery_terms(DeliveryFilter(webhook_id="wh_quiet"))
    sql, *args = _listed(Q["list_deliveries"], terms, "ten_on", 50)
    assert [r["id"] for r in await conn.fetch(sql, *args)] == quiet[::-1]
    found = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    plan = list(nodes(json.loads(found)[0]["Plan"]))
    indexes = {node.get("Index Name") for node in plan}
    assert "deliveries_webhook" in indexes  # (an index scan, or a bitmap of it and another)
    assert all(node["Node Type"] != "Seq Scan" for node in plan)


@pytest.mark.parametrize("analysed", [False, True], ids=["no-statistics", "analysed"])
async def test_a_webhook_s_recent_failures_are_counted_from_the_failed_ones_only(
    queue: tuple[asyncpg.Connection[Any], Queue], analysed: bool
) -> None:
    """deliveries_failed (migration 0002) holds only failed deliveries: the web UI's count of a
    webhook's recent failures reads those, not every delivery the webhook ever had."""
    conn, rows = queue
    mine = [i for i, hook, _ in rows if hook == "wh_3"][:3]
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', updated_at = $2 WHERE id = ANY($1::text[])",
        mine,
        NOW,
    )
    if analysed:
        await conn.execute("ANALYZE")
    args = ("ten_on", ["wh_3", "wh_4"], NOW - timedelta(hours=1))
    found = await conn.fetch(Q["webhook_activity"], *args)
    assert [(r["webhook_id"], r["failed_recently"]) for r in found] == [("wh_3", 3), ("wh_4", 0)]
    plan = await explain(conn, "webhook_activity", *args)
    scans = queue_scans(plan)
    assert [index for _, index in scans] == ["deliveries_failed"], scans
