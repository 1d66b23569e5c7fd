"""SQLite group commit: concurrent publishes share one transaction, each in its own savepoint.

The store's one thread is held busy (a call that waits on an event) while publishes queue up
behind it, so they are certainly written as one group when it is let go.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from tests.store.conftest import RawSql
from tests.store.test_queue_contract import add_tenant, add_webhook, claim_key, new_event

from hookline.domain.times import to_epoch_ms, utcnow
from hookline.errors import Conflict
from hookline.store.sqlite import SqliteStore
from hookline.store.sqlite_publish import GROUP_MAX


class HeldThread:
    """Keeps the store's thread busy until :meth:`release`."""

    def __init__(self, store: SqliteStore) -> None:
        self.gate = threading.Event()
        self.task = asyncio.ensure_future(store._run(lambda conn: self.gate.wait(30)))

    async def release(self) -> None:
        self.gate.set()
        await self.task


async def count(raw: RawSql, table: str) -> int:
    [(n,)] = await raw.fetch(f"SELECT count(*) FROM {table}")
    return int(n)


async def test_one_failing_request_does_not_fail_the_others_of_its_group(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    raw = RawSql(sqlite_url)
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    good = [new_event(tenant) for _ in range(5)]
    # An event of a tenant that does not exist breaks a foreign key: that request alone fails.
    bad = replace(new_event(tenant), tenant_id="ten_missing")
    held = HeldThread(sqlite_store)
    now = good[0].created_at
    calls = [sqlite_store.publish([event], None, now) for event in good[:2]]
    calls.append(sqlite_store.publish([bad], None, now))
    calls += [sqlite_store.publish([event], None, now) for event in good[2:]]
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in tasks)  # nothing answered before its commit
    await held.release()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[2], Conflict)
    answered = [o for i, o in enumerate(outcomes) if i != 2]
    assert [o.results[0].event_id for o in answered] == [e.id for e in good]  # type: ignore[union-attr]
    assert all(o.results[0].deliveries == 1 for o in answered)  # type: ignore[union-attr]
    # Every answered request is on disk, as another connection sees it; the failed one is not.
    assert await count(raw, "events") == 5
    assert await count(raw, "deliveries") == 5
    assert await raw.fetch("SELECT id FROM events WHERE id = ?", bad.id) == []


async def test_a_group_keeps_the_order_of_requests_for_idempotency_keys(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    """Two requests with one key in one group: the first publishes, the second replays it."""
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    first, second = new_event(tenant), new_event(tenant)
    now = first.created_at
    held = HeldThread(sqlite_store)
    key = claim_key(tenant, "same", now.replace(year=now.year - 1))
    tasks = [
        asyncio.ensure_future(sqlite_store.publish([event], key, now)) for event in (first, second)
    ]
    await asyncio.sleep(0.05)
    await held.release()
    a, b = await asyncio.gather(*tasks)
    assert a.replayed is None
    assert [r.event_id for r in a.results] == [first.id]
    assert b.replayed is not None
    assert first.id in b.replayed
    assert await count(RawSql(sqlite_url), "events") == 1


async def test_a_batch_is_all_or_nothing_inside_its_group(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    raw = RawSql(sqlite_url)
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    ok = new_event(tenant)
    broken_batch = [new_event(tenant), replace(new_event(tenant), tenant_id="ten_missing")]
    held = HeldThread(sqlite_store)
    now = ok.created_at
    fails = asyncio.ensure_future(sqlite_store.publish(broken_batch, None, now))
    works = asyncio.ensure_future(sqlite_store.publish([ok], None, now))
    await asyncio.sleep(0.05)
    await held.release()
    with pytest.raises(Conflict):
        await fails
    assert (await works).results[0].event_id == ok.id
    rows = await raw.fetch("SELECT id FROM events")
    assert rows == [(ok.id,)]  # nothing of the failed batch, not even its valid first event


async def test_more_requests_than_a_group_holds_are_all_written(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    """Past GROUP_MAX queued requests, the writes go on in further groups (with the engine's
    calls let in between), and every request is answered."""
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    events = [new_event(tenant) for _ in range(GROUP_MAX * 2 + 10)]
    held = HeldThread(sqlite_store)
    now = events[0].created_at
    tasks = [asyncio.ensure_future(sqlite_store.publish([e], None, now)) for e in events]
    await asyncio.sleep(0.05)
    claim = asyncio.ensure_future(sqlite_store.claim_due(now, 5, now.replace(year=3000), "tok"))
    await asyncio.sleep(0.05)  # the claim is asked for (queued) before the thread is let go
    await held.release()
    outcomes = await asyncio.gather(*tasks)
    assert [o.results[0].event_id for o in outcomes] == [e.id for e in events]
    assert await count(RawSql(sqlite_url), "deliveries") == len(events)
    # The engine's claim, asked for after all of them, went first (its own lane): it found
    # nothing yet, instead of waiting behind every group.
    assert await claim == []


async def test_requests_written_together_get_their_own_answers_and_times(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    """Requests without a key share one set of statements; each still gets its own results,
    its deliveries are due at its own time, and a keyed request among them is kept apart."""
    raw = RawSql(sqlite_url)
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    await add_webhook(sqlite_store, tenant, client_cuids=("c1",))
    t0 = utcnow()
    requests = [
        ([new_event(tenant), new_event(tenant, client_cuid="c1")], None, t0),
        ([new_event(tenant, client_cuid="c2")], None, t0 + timedelta(seconds=1)),
        ([new_event(tenant)], claim_key(tenant, "k", t0 - timedelta(days=1)), t0),
        ([new_event(tenant, client_cuid="c1") for _ in range(3)], None, t0 + timedelta(seconds=2)),
    ]
    held = HeldThread(sqlite_store)
    tasks = [asyncio.ensure_future(sqlite_store.publish(*request)) for request in requests]
    await asyncio.sleep(0.05)
    await held.release()
    outcomes = await asyncio.gather(*tasks)
    for (events, _, _), outcome in zip(requests, outcomes, strict=True):
        assert [r.event_id for r in outcome.results] == [e.id for e in events]
    assert [[r.deliveries for r in o.results] for o in outcomes] == [[1, 2], [1], [1], [2, 2, 2]]
    due = dict(await raw.fetch("SELECT event_id, min(next_attempt_at) FROM deliveries GROUP BY 1"))
    for events, _, at in requests:
        assert {due[e.id] for e in events} == {to_epoch_ms(at)}
    assert await count(raw, "deliveries") == 11


async def test_events_made_at_their_request_time_are_fanned_out_together_each_due_then(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    """As the event service publishes (each event created at its request's time): the group's
    deliveries are made by one statement, each due at its own request's time, in order."""
    raw = RawSql(sqlite_url)
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    await add_webhook(sqlite_store, tenant, client_cuids=("c1",))
    t0 = utcnow()
    times = [t0, t0 + timedelta(seconds=1), t0 + timedelta(seconds=2)]
    requests = [
        [new_event(tenant, at=times[0]), new_event(tenant, client_cuid="c1", at=times[0])],
        [new_event(tenant, client_cuid="c2", at=times[1])],
        [new_event(tenant, client_cuid="c1", at=times[2]) for _ in range(3)],
    ]
    statements: list[str] = []
    held = HeldThread(sqlite_store)
    assert sqlite_store._conn is not None
    sqlite_store._conn.set_trace_callback(statements.append)
    tasks = [
        asyncio.ensure_future(sqlite_store.publish(events, None, at))
        for events, at in zip(requests, times, strict=True)
    ]
    await asyncio.sleep(0.05)
    await held.release()
    outcomes = await asyncio.gather(*tasks)
    sqlite_store._conn.set_trace_callback(None)
    assert [[r.deliveries for r in o.results] for o in outcomes] == [[1, 2], [1], [2, 2, 2]]
    assert sum("INSERT INTO deliveries" in s for s in statements) == 1
    due = dict(await raw.fetch("SELECT event_id, min(next_attempt_at) FROM deliveries GROUP BY 1"))
    for events, at in zip(requests, times, strict=True):
        assert {due[e.id] for e in events} == {to_epoch_ms(at)}
    made = [row[0] for row in await raw.fetch("SELECT event_id FROM deliveries ORDER BY rowid")]
    published = [e.id for events in requests for e in events]
    assert sorted(set(made), key=made.index) == published  # made in the order published


async def test_events_that_do_not_get_consecutive_rowids_are_refused_and_not_stored(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    """Once the events table's largest rowid is 2**63 - 1, SQLite picks new rowids at random:
    the fan-out, which reads the new events back by their rowid range, must then refuse the
    publish (nothing stored) rather than fan out other events or none."""
    raw = RawSql(sqlite_url)
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    last = new_event(tenant)
    await raw.execute(
        "INSERT INTO events (rowid, id, tenant_id, event, body, created_at) "
        "VALUES (9223372036854775807, ?, ?, ?, ?, ?)",
        last.id,
        tenant.id,
        last.event,
        last.body,
        last.created_at,
    )
    events = [new_event(tenant) for _ in range(20)]
    with pytest.raises(RuntimeError, match="consecutive rowids"):
        await sqlite_store.publish(events, None, events[0].created_at)
    assert await count(raw, "events") == 1
    assert await count(raw, "deliveries") == 0
    # One event is always its own range (its rowid is the one SQLite reports), random or not.
    one = await sqlite_store.publish([new_event(tenant)], None, utcnow())
    assert one.results[0].deliveries == 1


async def test_a_request_written_alone_that_fails_leaves_nothing_and_the_store_writable(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    """A group of one request has no savepoint: its fault rolls the whole transaction back
    (its key is not kept either), and the next publish is written as usual."""
    raw = RawSql(sqlite_url)
    tenant = await add_tenant(sqlite_store)
    await add_webhook(sqlite_store, tenant)
    now = utcnow()
    key = claim_key(tenant, "k", now - timedelta(days=1))
    good = new_event(tenant, at=now)
    bad = replace(new_event(tenant, at=now), tenant_id="ten_missing")
    with pytest.raises(Conflict):
        await sqlite_store.publish([good, bad], key, now)
    assert (await count(raw, "events"), await count(raw, "deliveries")) == (0, 0)
    assert await count(raw, "idempotency_keys") == 0
    again = await sqlite_store.publish([new_event(tenant, at=now)], key, now)
    assert again.replayed is None
    assert [r.deliveries for r in again.results] == [1]


async def test_each_event_of_a_group_gets_its_own_body_and_rowids_follow_the_requests(
    sqlite_store: SqliteStore, sqlite_url: str
) -> None:
    # The requests' bodies travel as one BLOB, each row naming its slice from its request's
    # offset: bodies of every size, in requests of every size, must each land on their event.
    raw = RawSql(sqlite_url)
    tenant = await add_tenant(sqlite_store)
    webhook = await add_webhook(sqlite_store, tenant)
    now = utcnow()
    requests = [
        [
            new_event(tenant, at=now, data={"r": r, "i": i, "pad": "é" * (r * 37 + i * 11)})
            for i in range(size)
        ]
        for r, size in enumerate([3, 1, 7, 2, 5])
    ]
    held = HeldThread(sqlite_store)
    tasks = [asyncio.ensure_future(sqlite_store.publish(events, None, now)) for events in requests]
    await asyncio.sleep(0.05)
    await held.release()
    outcomes = await asyncio.gather(*tasks)
    for events, outcome in zip(requests, outcomes, strict=True):
        assert [(r.event_id, r.deliveries) for r in outcome.results] == [(e.id, 1) for e in events]
    stored = await raw.fetch("SELECT id, body FROM events ORDER BY rowid")
    sent = [e for events in requests for e in events]
    assert [(row[0], bytes(row[1])) for row in stored] == [(e.id, e.body) for e in sent]
    deliveries = await raw.fetch("SELECT event_id, webhook_id FROM deliveries ORDER BY rowid")
    assert deliveries == [(e.id, webhook.id) for e in sent]
