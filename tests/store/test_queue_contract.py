"""The outbox and queue half of the Store contract, run on every backend (``store``).

Publishing (fan-out, idempotency), leasing (claim, complete, release), housekeeping and the
history queries. Tests that need "another process" open a second store on the same database
(``other_store``): PostgreSQL runs them truly concurrently; SQLite serialises them on its file
lock, which must give the same answers.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from hookline.domain.deliveries import (
    AttemptLog,
    ClaimedDelivery,
    Completion,
    Delivery,
    DeliveryStatus,
    PublishResult,
    Trigger,
)
from hookline.domain.events import NewEvent, event_body
from hookline.domain.tenants import Tenant
from hookline.domain.times import to_epoch_ms, utcnow
from hookline.domain.webhooks import Webhook
from hookline.ids import IdPrefix, new_id
from hookline.store import Store
from hookline.store.base import DeliveryFilter, IdempotencyClaim, LogFilter, SkippingClaims

LEASE = timedelta(seconds=30)
MS = timedelta(milliseconds=1)


# -- builders ------------------------------------------------------------------------------------


async def add_tenant(store: Store) -> Tenant:
    tenant = Tenant(new_id(IdPrefix.TENANT), f"t-{secrets.token_hex(4)}", True, utcnow())
    await store.insert_tenant(tenant)
    return tenant


async def add_webhook(store: Store, tenant: Tenant, **fields: object) -> Webhook:
    now = utcnow()
    webhook = Webhook(
        id=new_id(IdPrefix.WEBHOOK),
        tenant_id=tenant.id,
        name="hook",
        url=f"https://hooks.example.com/{secrets.token_hex(3)}",
        client_cuids=(),
        events=("ReportPublished",),
        secret_ciphertext=None,
        ssl_verification=True,
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    webhook = replace(webhook, **fields)  # type: ignore[arg-type]
    await store.insert_webhook(webhook)
    return webhook


def new_event(
    tenant: Tenant,
    event: str = "ReportPublished",
    client_cuid: str | None = None,
    *,
    at: datetime | None = None,
    data: object = None,
) -> NewEvent:
    at = at or utcnow()
    event_id = new_id(IdPrefix.EVENT, now_ms=to_epoch_ms(at))
    body = event_body(event_id, event, at, client_cuid, data if data is not None else {})
    return NewEvent(event_id, tenant.id, event, client_cuid, body, at)


def delivery_id(event_id: str, webhook_id: str) -> str:
    return f"dlv_{event_id.removeprefix('evt_')}{webhook_id.removeprefix('wh_')}"


def attempt_log(
    claimed: ClaimedDelivery, *, at: datetime, success: bool = True, **fields: object
) -> AttemptLog:
    log = AttemptLog(
        id=new_id(IdPrefix.LOG, now_ms=to_epoch_ms(at)),
        tenant_id=claimed.tenant_id,
        delivery_id=claimed.id,
        webhook_id=claimed.webhook_id,
        event_id=claimed.event_id,
        event=claimed.event,
        client_cuid=claimed.client_cuid,
        attempt=claimed.attempts + 1,
        trigger=claimed.trigger,
        url=claimed.url,
        request_headers={"X-Hookline-Attempt": str(claimed.attempts + 1), "X-Ünï": "✓"},
        request_body=claimed.body.decode(),
        status_code=200 if success else 500,
        response_headers={"content-type": "text/plain; charset=utf-8"},
        response_body="ok — 好" if success else "boom",
        duration_ms=12,
        success=success,
        error=None if success else "Failed to call webhook: HTTP 500",
        created_at=at,
    )
    return replace(log, **fields)  # type: ignore[arg-type]


def outcome(
    claimed: ClaimedDelivery,
    status: DeliveryStatus,
    *,
    at: datetime,
    retry_at: datetime | None = None,
    token: str | None = None,
) -> Completion:
    success = status is DeliveryStatus.SUCCEEDED
    return Completion(
        delivery_id=claimed.id,
        lease_token=token or claimed.lease_token,
        status=status,
        attempts=claimed.attempts + 1,
        next_attempt_at=retry_at,
        last_status_code=200 if success else 500,
        last_error=None if success else "Failed to call webhook: HTTP 500",
        log=attempt_log(claimed, at=at, success=success),
    )


def is_postgres(store: Store) -> bool:
    return type(store).__name__ == "PostgresStore"


def token() -> str:
    return secrets.token_hex(12)


async def claim(store: Store, at: datetime, limit: int = 100) -> list[ClaimedDelivery]:
    return await store.claim_due(at, limit, at + LEASE, token())


async def count(raw, table: str) -> int:
    [(n,)] = await raw.fetch(f"SELECT count(*) FROM {table}")
    return int(n)


async def deliveries_of(store: Store, tenant: Tenant, **filters: object) -> list[Delivery]:
    return await store.list_deliveries(tenant.id, DeliveryFilter(limit=1000, **filters))  # type: ignore[arg-type]


def render(results: list[PublishResult]) -> str:
    return json.dumps({"data": [{"id": r.event_id, "deliveries": r.deliveries} for r in results]})


def claim_key(tenant: Tenant, key: str, not_before: datetime) -> IdempotencyClaim:
    return IdempotencyClaim(tenant.id, key, not_before, render)


# -- publishing: fan-out -------------------------------------------------------------------------


async def test_publish_fans_out_to_every_matching_webhook(store: Store, raw) -> None:
    tenant, other = await add_tenant(store), await add_tenant(store)
    everyone = await add_webhook(store, tenant)
    for_c1 = await add_webhook(store, tenant, client_cuids=("c1", "c9"))
    for_c2 = await add_webhook(store, tenant, client_cuids=("c2",))
    both_events = await add_webhook(
        store, tenant, events=("AssessmentSubmitted", "ReportPublished")
    )
    await add_webhook(store, tenant, enabled=False)
    deleted = await add_webhook(store, tenant)
    await store.delete_webhook(tenant.id, deleted.id, utcnow())
    assessments = await add_webhook(store, tenant, events=("AssessmentSubmitted",))
    await add_webhook(store, other)  # another tenant's, same event

    now = utcnow()
    to_c1 = new_event(tenant, client_cuid="c1", at=now, data={"name": "Zürich 東京 🚀"})
    no_client = new_event(tenant, at=now)
    assessment = new_event(tenant, "AssessmentSubmitted", "c2", at=now)
    nobody = new_event(tenant, "EngagementRequested", at=now)
    outcome_ = await store.publish([to_c1, no_client, assessment, nobody], None, now)

    assert outcome_.replayed is None
    assert outcome_.results == [
        PublishResult(to_c1.id, 3),
        PublishResult(no_client.id, 2),
        PublishResult(assessment.id, 2),
        PublishResult(nobody.id, 0),
    ]
    found = await deliveries_of(store, tenant)
    assert {(d.event_id, d.webhook_id) for d in found} == {
        (to_c1.id, everyone.id),
        (to_c1.id, for_c1.id),  # its client is listed
        (to_c1.id, both_events.id),
        (no_client.id, everyone.id),  # not for_c1: a client list needs a client
        (no_client.id, both_events.id),
        (assessment.id, both_events.id),  # not for_c2: subscribed to ReportPublished only
        (assessment.id, assessments.id),
    }
    assert len(found) == 7
    assert for_c2.id not in {d.webhook_id for d in found}  # c2 never published to it
    for delivery in found:
        assert delivery.id == delivery_id(delivery.event_id, delivery.webhook_id)
        assert delivery.tenant_id == tenant.id
        assert delivery.status is DeliveryStatus.PENDING
        assert delivery.trigger is Trigger.EVENT
        assert delivery.attempts == 0
        assert delivery.next_attempt_at == now
        assert delivery.created_at == delivery.updated_at == now
        assert delivery.last_status_code is None
        assert delivery.last_error is None
        assert delivery.event == (
            "AssessmentSubmitted" if delivery.event_id == assessment.id else "ReportPublished"
        )
    assert await deliveries_of(store, other) == []

    # Every event is stored, with its exact bytes, including the one nobody wanted.
    stored = dict(await raw.fetch("SELECT id, body FROM events"))
    assert set(stored) == {to_c1.id, no_client.id, assessment.id, nobody.id}
    assert bytes(stored[to_c1.id]) == to_c1.body
    assert "Zürich 東京 🚀".encode() in bytes(stored[to_c1.id])
    assert await count(raw, "deliveries") == 7


async def test_each_event_of_a_batch_is_matched_on_its_own(store: Store) -> None:
    tenant, other = await add_tenant(store), await add_tenant(store)
    reports = await add_webhook(store, tenant)
    theirs = await add_webhook(store, other, events=("AssessmentSubmitted",))
    now = utcnow()
    events = [
        new_event(tenant if i % 2 else other, "ReportPublished" if i % 2 else "AssessmentSubmitted")
        for i in range(1000)
    ]
    outcome_ = await store.publish(events, None, now)
    assert outcome_.results == [PublishResult(e.id, 1) for e in events]
    mine = await deliveries_of(store, tenant)
    assert {d.webhook_id for d in mine} == {reports.id}
    assert len(mine) == 500
    assert {d.webhook_id for d in await deliveries_of(store, other)} == {theirs.id}


async def test_one_event_fans_out_to_2000_webhooks(store: Store, raw) -> None:
    tenant = await add_tenant(store)
    now = utcnow()
    hooks = [new_id(IdPrefix.WEBHOOK) for _ in range(2000)]
    await raw.executemany(
        "INSERT INTO webhooks (id, tenant_id, name, url, client_cuids, events, ssl_verification,"
        " enabled, created_at, updated_at) VALUES (?, ?, 'h', ?, '[]', '[\"ReportPublished\"]',"
        " ?, ?, ?, ?)",
        [
            (h, tenant.id, f"https://h{i}.example.com/", True, True, now, now)
            for i, h in enumerate(hooks)
        ],
    )
    await raw.executemany(
        "INSERT INTO webhook_subscriptions (webhook_id, tenant_id, event)"
        " VALUES (?, ?, 'ReportPublished')",
        [(h, tenant.id) for h in hooks],
    )
    event = new_event(tenant, at=now)
    outcome_ = await store.publish([event], None, now)
    assert outcome_.results == [PublishResult(event.id, 2000)]
    rows = await raw.fetch("SELECT id, webhook_id FROM deliveries WHERE event_id = ?", event.id)
    assert sorted(r[1] for r in rows) == sorted(hooks)
    assert all(r[0] == delivery_id(event.id, r[1]) for r in rows)


# -- publishing: idempotency ---------------------------------------------------------------------


async def test_a_key_used_again_replays_the_first_answer(store: Store, raw) -> None:
    tenant, other = await add_tenant(store), await add_tenant(store)
    await add_webhook(store, tenant)
    await add_webhook(store, other)
    now = utcnow()
    window = now - timedelta(hours=24)

    first = await store.publish([new_event(tenant)], claim_key(tenant, "k-1", window), now)
    assert first.replayed is None
    [result] = first.results
    assert result.deliveries == 1
    stored = (await count(raw, "events"), await count(raw, "deliveries"))

    later = now + timedelta(seconds=5)
    again = await store.publish(
        [new_event(tenant), new_event(tenant)], claim_key(tenant, "k-1", window), later
    )
    assert again.replayed == render(first.results)
    assert again.results == []
    assert (await count(raw, "events"), await count(raw, "deliveries")) == stored

    # The same key is another tenant's own; another key is a new publish.
    theirs = await store.publish([new_event(other)], claim_key(other, "k-1", window), later)
    assert theirs.replayed is None
    assert theirs.results[0].deliveries == 1
    fresh = await store.publish([new_event(tenant)], claim_key(tenant, "k-2", window), later)
    assert fresh.replayed is None
    assert await count(raw, "events") == stored[0] + 2
    assert await count(raw, "idempotency_keys") == 3


async def test_an_expired_key_is_fresh(store: Store, raw) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    t0 = utcnow() - timedelta(hours=30)
    first = await store.publish([new_event(tenant)], claim_key(tenant, "k", t0 - MS), t0)

    # Used at t0; a window that starts after t0 no longer knows it.
    t1 = t0 + timedelta(hours=25)
    second = await store.publish(
        [new_event(tenant)], claim_key(tenant, "k", t1 - timedelta(hours=24)), t1
    )
    assert second.replayed is None
    assert second.results != first.results
    assert await count(raw, "events") == 2
    # ... and it now answers with the second answer, from t1 on.
    third = await store.publish(
        [new_event(tenant)], claim_key(tenant, "k", t1 - timedelta(hours=1)), t1 + MS
    )
    assert third.replayed == render(second.results)
    assert await count(raw, "idempotency_keys") == 1


async def test_concurrent_first_uses_of_a_key_publish_once(
    store: Store, other_store: Store, raw
) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    await add_webhook(store, tenant)
    now = utcnow()
    for round_ in range(8):
        key = f"race-{round_}"
        a, b = await asyncio.gather(
            store.publish([new_event(tenant)], claim_key(tenant, key, now - MS), now),
            other_store.publish([new_event(tenant)], claim_key(tenant, key, now - MS), now),
        )
        winner, loser = (a, b) if a.replayed is None else (b, a)
        assert winner.replayed is None, (a, b)
        assert loser.replayed == render(winner.results)
        assert winner.results[0].deliveries == 2
    assert await count(raw, "events") == 8
    assert await count(raw, "deliveries") == 16


# -- claiming ------------------------------------------------------------------------------------


async def test_claimed_bodies_are_the_stored_bytes_exactly(store: Store) -> None:
    """Whatever bytes a body holds (NUL, bytes that are no UTF-8, none at all), each claimed
    delivery carries its own event's, exactly, whatever the sizes around it."""
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    t0 = utcnow()
    bodies = [b"", b"\x00", b"\xff\xfe\x00{}", "\u00fc\u2713".encode(), b"x" * 70_000, b"{}"]
    events = [replace(new_event(tenant, at=t0), body=body) for body in bodies]
    await store.publish(events, None, t0)
    claimed = await claim(store, t0, limit=len(bodies) + 1)
    assert {c.event_id: c.body for c in claimed} == {e.id: e.body for e in events}
    assert len(claimed) == len(bodies)


async def test_claim_takes_due_deliveries_oldest_first(store: Store, raw) -> None:
    tenant = await add_tenant(store)
    webhook = await add_webhook(
        store, tenant, secret_ciphertext="v1:secret", ssl_verification=False, client_cuids=("c",)
    )
    t0 = utcnow()
    events = [new_event(tenant, client_cuid="c", at=t0, data={"n": i, "ü": "✓"}) for i in range(4)]
    for i, event in enumerate(events):  # due at t0, t0+1s, t0+2s, t0+3s
        await store.publish([event], None, t0 + timedelta(seconds=i))

    assert await claim(store, t0 - MS) == []  # nothing due yet
    first = await store.claim_due(t0 + timedelta(seconds=2), 2, t0 + LEASE, "tok-1")
    assert [c.event_id for c in first] == [events[0].id, events[1].id]  # limit, oldest first
    claimed = first[0]
    assert claimed == ClaimedDelivery(
        id=delivery_id(events[0].id, webhook.id),
        tenant_id=tenant.id,
        webhook_id=webhook.id,
        event_id=events[0].id,
        event="ReportPublished",
        client_cuid="c",
        trigger=Trigger.EVENT,
        attempts=0,
        lease_token="tok-1",
        url=webhook.url,
        secret_ciphertext="v1:secret",
        ssl_verification=False,
        body=events[0].body,
    )
    [(status, token_, lease)] = await raw.fetch(
        "SELECT status, lease_token, lease_expires_at FROM deliveries WHERE id = ?", claimed.id
    )
    assert (status, token_, raw.time(lease)) == ("delivering", "tok-1", t0 + LEASE)

    # Due at t0+2s: taken; the one due at t0+3s is not.
    rest = await claim(store, t0 + timedelta(seconds=2))
    assert [c.event_id for c in rest] == [events[2].id]
    assert [c.event_id for c in await claim(store, t0 + timedelta(seconds=3))] == [events[3].id]


async def test_a_leased_delivery_is_claimed_again_only_when_the_lease_expires(
    store: Store,
) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    t0 = utcnow()
    await store.publish([new_event(tenant)], None, t0)
    [held] = await store.claim_due(t0, 10, t0 + LEASE, "first")
    assert await claim(store, t0 + LEASE - MS) == []
    [again] = await store.claim_due(t0 + LEASE, 10, t0 + 2 * LEASE, "second")
    assert again.id == held.id
    assert again.lease_token == "second"
    assert again.attempts == 0

    # The first holder's late outcome is refused; the new holder's is taken.
    done = t0 + LEASE + timedelta(seconds=1)
    assert await store.complete([outcome(held, DeliveryStatus.SUCCEEDED, at=done)], done) == 0
    assert (await store.get_delivery(tenant.id, held.id)).status is DeliveryStatus.DELIVERING  # type: ignore[union-attr]
    assert await store.complete([outcome(again, DeliveryStatus.SUCCEEDED, at=done)], done) == 1


async def test_only_deliveries_of_live_enabled_webhooks_of_enabled_tenants_are_claimed(
    store: Store, raw
) -> None:
    tenant, switched_off = await add_tenant(store), await add_tenant(store)
    live = await add_webhook(store, tenant)
    disabled = await add_webhook(store, tenant)
    deleted = await add_webhook(store, tenant)
    of_disabled_tenant = await add_webhook(store, switched_off)
    t0 = utcnow()
    await store.publish([new_event(tenant), new_event(switched_off)], None, t0)
    # Disabled and deleted behind the deliveries' backs (nothing cancelled them).
    assert await store.update_webhook(replace(disabled, enabled=False), cancel_pending=False)
    await raw.execute("UPDATE webhooks SET deleted_at = ? WHERE id = ?", t0, deleted.id)
    await store.set_tenant_enabled(switched_off.id, False)

    assert {c.webhook_id for c in await claim(store, t0)} == {live.id}
    await store.set_tenant_enabled(switched_off.id, True)
    assert {c.webhook_id for c in await claim(store, t0)} == {of_disabled_tenant.id}


async def test_a_claim_can_leave_out_the_webhooks_of_full_endpoints(store: Store) -> None:
    # The engine asks this of both stores (SkippingClaims) while an endpoint's waiting line is
    # full, so a hanging endpoint's backlog is not claimed over and over.
    assert isinstance(store, SkippingClaims)
    tenant = await add_tenant(store)
    full, healthy, other = [await add_webhook(store, tenant) for _ in range(3)]
    t0 = utcnow()
    await store.publish([new_event(tenant) for _ in range(3)], None, t0)
    skip = [full.id, other.id]
    taken = await store.claim_due_skipping(t0, 100, t0 + LEASE, token(), skip)
    assert {c.webhook_id for c in taken} == {healthy.id}
    assert len(taken) == 3
    rest = await store.claim_due_skipping(t0, 100, t0 + LEASE, token(), [])
    assert sorted(c.webhook_id for c in rest) == sorted([full.id, other.id] * 3)


async def test_concurrent_claimers_never_get_the_same_delivery(
    store: Store, other_store: Store
) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    t0 = utcnow()
    published = await store.publish([new_event(tenant, at=t0) for _ in range(500)], None, t0)
    assert sum(r.deliveries for r in published.results) == 500

    async def drain(claimer: Store) -> list[str]:
        got: list[str] = []
        idle = 0
        while idle < 3:  # SKIP LOCKED may answer nothing while the other holds the rest
            batch = await claimer.claim_due(t0, 7, t0 + LEASE, token())
            got += [c.id for c in batch]
            idle = 0 if batch else idle + 1
        return got

    mine, theirs = await asyncio.gather(drain(store), drain(other_store))
    assert len(mine) == len(set(mine))
    assert len(theirs) == len(set(theirs))
    assert set(mine) & set(theirs) == set()
    assert len(set(mine) | set(theirs)) == 500
    if is_postgres(store):  # truly concurrent there (SQLite may let one claimer take all)
        assert mine
        assert theirs


# -- completing ----------------------------------------------------------------------------------


async def test_complete_applies_outcomes_under_the_lease_and_logs_every_attempt(
    store: Store, raw
) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    t0 = utcnow()
    await store.publish([new_event(tenant), new_event(tenant), new_event(tenant)], None, t0)
    ok, failed, stale = await claim(store, t0)
    t1 = t0 + timedelta(seconds=2)
    batch = [
        outcome(ok, DeliveryStatus.SUCCEEDED, at=t1),
        outcome(failed, DeliveryStatus.FAILED, at=t1),
        outcome(stale, DeliveryStatus.SUCCEEDED, at=t1, token="not-the-lease"),
    ]
    assert await store.complete(batch, t1) == 2

    done = await store.get_delivery(tenant.id, ok.id)
    assert done is not None
    assert (done.status, done.attempts, done.next_attempt_at) == (DeliveryStatus.SUCCEEDED, 1, None)
    assert (done.last_status_code, done.last_error, done.updated_at) == (200, None, t1)
    gone = await store.get_delivery(tenant.id, failed.id)
    assert gone is not None
    assert (gone.status, gone.next_attempt_at, gone.last_status_code) == (
        DeliveryStatus.FAILED,
        None,
        500,
    )
    assert gone.last_error == "Failed to call webhook: HTTP 500"
    untouched = await store.get_delivery(tenant.id, stale.id)
    assert untouched is not None
    assert (untouched.status, untouched.attempts, untouched.updated_at) == (
        DeliveryStatus.DELIVERING,
        0,
        t0,
    )
    leases = await raw.fetch(
        "SELECT lease_token, lease_expires_at FROM deliveries WHERE id IN (?, ?)", ok.id, failed.id
    )
    assert leases == [(None, None), (None, None)]

    # Every attempt is logged, the refused one too, exactly as given.
    logs = await store.list_logs(tenant.id, LogFilter())
    assert sorted(logs, key=lambda log: log.id) == sorted(
        (c.log for c in batch), key=lambda log: log.id
    )
    assert await store.complete([], t1) == 0


async def test_a_retry_is_pending_again_and_due_at_its_time(store: Store) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    t0 = utcnow()
    await store.publish([new_event(tenant)], None, t0)
    [first] = await claim(store, t0)
    retry_at = t0 + timedelta(seconds=30)
    assert (
        await store.complete([outcome(first, DeliveryStatus.PENDING, at=t0, retry_at=retry_at)], t0)
        == 1
    )
    waiting = await store.get_delivery(tenant.id, first.id)
    assert waiting is not None
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at) == (
        DeliveryStatus.PENDING,
        1,
        retry_at,
    )
    assert await claim(store, retry_at - MS) == []
    [second] = await claim(store, retry_at)
    assert (second.id, second.attempts) == (first.id, 1)


async def test_a_retry_of_a_webhook_disabled_or_deleted_meanwhile_is_cancelled(
    store: Store,
) -> None:
    tenant = await add_tenant(store)
    disabled = await add_webhook(store, tenant)
    deleted = await add_webhook(store, tenant)
    finished = await add_webhook(store, tenant)
    t0 = utcnow()
    await store.publish([new_event(tenant)], None, t0)
    claimed = {c.webhook_id: c for c in await claim(store, t0)}
    # While the attempts are in flight, two webhooks go away (in-flight ones finish).
    assert await store.update_webhook(replace(disabled, enabled=False), cancel_pending=True)
    assert await store.update_webhook(replace(finished, enabled=False), cancel_pending=True)
    assert await store.delete_webhook(tenant.id, deleted.id, t0)

    t1, retry_at = t0 + timedelta(seconds=1), t0 + timedelta(minutes=1)
    batch = [
        outcome(claimed[disabled.id], DeliveryStatus.PENDING, at=t1, retry_at=retry_at),
        outcome(claimed[deleted.id], DeliveryStatus.PENDING, at=t1, retry_at=retry_at),
        outcome(claimed[finished.id], DeliveryStatus.SUCCEEDED, at=t1),
    ]
    assert await store.complete(batch, t1) == 3
    after = {d.webhook_id: d for d in await deliveries_of(store, tenant)}
    assert after[disabled.id].status is DeliveryStatus.CANCELLED
    assert after[deleted.id].status is DeliveryStatus.CANCELLED
    assert after[finished.id].status is DeliveryStatus.SUCCEEDED  # a final outcome stands
    assert all(d.next_attempt_at is None for d in after.values())
    assert all(d.attempts == 1 for d in after.values())


async def test_release_gives_leases_back_unattempted(store: Store) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    t0 = utcnow()
    await store.publish([new_event(tenant), new_event(tenant), new_event(tenant)], None, t0)
    a, b, kept = await claim(store, t0)
    later = t0 + timedelta(seconds=3)
    leases = [(a.id, a.lease_token), (b.id, b.lease_token), (kept.id, "wrong-token")]
    assert await store.release(leases, later) == 2
    assert await store.release([], later) == 0
    back = await store.get_delivery(tenant.id, a.id)
    assert back is not None
    assert (back.status, back.attempts, back.next_attempt_at) == (DeliveryStatus.PENDING, 0, later)
    assert (await store.get_delivery(tenant.id, kept.id)).status is DeliveryStatus.DELIVERING  # type: ignore[union-attr]
    assert await claim(store, later - MS) == []
    assert {c.id for c in await claim(store, later)} == {a.id, b.id}


# -- housekeeping and stats ----------------------------------------------------------------------


async def test_next_due_at_and_queue_stats(store: Store) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    t0 = utcnow()
    assert await store.next_due_at() is None
    stats = await store.queue_stats(t0)
    assert (stats.live, stats.due, stats.oldest_due_seconds) == (0, 0, 0.0)

    for offset in (0, 10, 60):  # due at t0, t0+10s, t0+60s
        await store.publish([new_event(tenant)], None, t0 + timedelta(seconds=offset))
    assert await store.next_due_at() == t0
    stats = await store.queue_stats(t0 + timedelta(seconds=15))
    assert (stats.live, stats.due) == (3, 2)
    assert stats.oldest_due_seconds == pytest.approx(15.0)

    # Leased: still live, not due, not pending; an expired lease is due again.
    [held] = await store.claim_due(t0, 1, t0 + timedelta(seconds=20), token())
    assert await store.next_due_at() == t0 + timedelta(seconds=10)
    stats = await store.queue_stats(t0 + timedelta(seconds=15))
    assert (stats.live, stats.due) == (3, 1)
    assert stats.oldest_due_seconds == pytest.approx(5.0)
    assert (await store.queue_stats(t0 + timedelta(seconds=20))).due == 2

    at = t0 + timedelta(seconds=1)
    await store.complete([outcome(held, DeliveryStatus.SUCCEEDED, at=at)], at)
    assert (await store.queue_stats(t0 + timedelta(seconds=15))).live == 2
    assert (await store.queue_stats(t0 - timedelta(seconds=1))).oldest_due_seconds == 0.0


async def test_cancel_orphans_cancels_what_nobody_holds(store: Store, raw) -> None:
    tenant = await add_tenant(store)
    live = await add_webhook(store, tenant)
    gone = await add_webhook(store, tenant)
    t0 = utcnow()
    await store.publish([new_event(tenant) for _ in range(3)], None, t0)
    # Of the gone webhook: one pending, one held under a live lease, one whose lease expired.
    held = [c for c in await claim(store, t0, limit=100) if c.webhook_id == gone.id]
    expired, in_flight = held[0], held[1]
    await store.release([(c.id, c.lease_token) for c in held[2:]], t0)
    await raw.execute(
        "UPDATE deliveries SET lease_expires_at = ? WHERE id = ?", t0 - MS, expired.id
    )
    await raw.execute("UPDATE webhooks SET enabled = ? WHERE id = ?", False, gone.id)

    t1 = t0 + timedelta(seconds=1)
    assert await store.cancel_orphans(t1) == 2
    after = {d.id: d for d in await deliveries_of(store, tenant)}
    unheld_of_gone = [d for d in after.values() if d.webhook_id == gone.id and d.id != in_flight.id]
    assert {d.status for d in unheld_of_gone} == {DeliveryStatus.CANCELLED}
    assert all(d.next_attempt_at is None and d.updated_at == t1 for d in unheld_of_gone)
    assert after[in_flight.id].status is DeliveryStatus.DELIVERING
    assert {d.status for d in after.values() if d.webhook_id == live.id} == {
        DeliveryStatus.DELIVERING
    }
    assert await store.cancel_orphans(t1) == 0


async def test_purge_deletes_old_logs_and_keys_only(store: Store, raw) -> None:
    tenant = await add_tenant(store)
    await add_webhook(store, tenant)
    now = utcnow()
    old, new = now - timedelta(days=40), now - timedelta(days=1)
    for at, key in ((old, "old"), (new, "new")):
        await store.publish([new_event(tenant, at=at)], claim_key(tenant, key, at - MS), at)
    claimed = await claim(store, now)
    for delivered, at in zip(claimed, (old, new), strict=True):
        await store.insert_log(attempt_log(delivered, at=at))
    assert await store.purge(now - timedelta(days=30), now - timedelta(days=2)) == 2
    assert [log.created_at for log in await store.list_logs(tenant.id, LogFilter())] == [new]
    assert await raw.fetch("SELECT key FROM idempotency_keys") == [("new",)]
    assert await count(raw, "deliveries") == 2  # history other than logs stays
    assert await store.purge(now - timedelta(days=30), now - timedelta(days=2)) == 0


# -- history -------------------------------------------------------------------------------------


async def test_list_logs_filters_and_pages_newest_first(store: Store) -> None:
    tenant, other = await add_tenant(store), await add_tenant(store)
    one = await add_webhook(store, tenant, events=("ReportPublished", "AssessmentSubmitted"))
    two = await add_webhook(store, tenant)
    t0 = utcnow()
    report, assessment = new_event(tenant, at=t0), new_event(tenant, "AssessmentSubmitted", at=t0)
    await store.publish([report, assessment], None, t0)
    by = {(c.webhook_id, c.event_id): c for c in await claim(store, t0)}
    specs = [  # (delivery, success, trigger)
        (by[one.id, report.id], True, Trigger.EVENT),
        (by[one.id, assessment.id], False, Trigger.EVENT),
        (by[two.id, report.id], False, Trigger.RESEND),
        (by[two.id, report.id], True, Trigger.RESEND),
    ]
    logs = [
        attempt_log(c, at=t0 + timedelta(seconds=i), success=ok, trigger=trig)
        for i, (c, ok, trig) in enumerate(specs)
    ]
    test_log = replace(
        logs[0],
        id=new_id(IdPrefix.LOG, now_ms=to_epoch_ms(t0 + timedelta(seconds=9))),
        delivery_id=None,
        webhook_id=None,
        event_id=None,
        trigger=Trigger.TEST,
        status_code=None,
        response_headers={},
        response_body="",
        created_at=t0 + timedelta(seconds=9),
    )
    for log in [*logs, test_log]:
        await store.insert_log(log)
    await store.insert_log(replace(logs[0], id=new_id(IdPrefix.LOG), tenant_id=other.id))

    async def ids(**query: object) -> list[str]:
        found = await store.list_logs(tenant.id, LogFilter(**query))  # type: ignore[arg-type]
        return [log.id for log in found]

    newest_first = [test_log.id, logs[3].id, logs[2].id, logs[1].id, logs[0].id]
    assert await ids() == newest_first
    assert await store.list_logs(tenant.id, LogFilter()) == [test_log, *reversed(logs)]
    assert await ids(webhook_id=two.id) == [logs[3].id, logs[2].id]
    assert await ids(event="AssessmentSubmitted") == [logs[1].id]
    assert await ids(event_id=report.id) == [logs[3].id, logs[2].id, logs[0].id]
    assert await ids(delivery_id=by[two.id, report.id].id) == [logs[3].id, logs[2].id]
    assert await ids(success=False) == [logs[2].id, logs[1].id]
    assert await ids(success=True) == [test_log.id, logs[3].id, logs[0].id]
    assert await ids(trigger=Trigger.RESEND) == [logs[3].id, logs[2].id]
    assert await ids(trigger=Trigger.TEST) == [test_log.id]
    assert await ids(since=t0 + timedelta(seconds=1)) == newest_first[:4]
    assert await ids(until=t0 + timedelta(seconds=1)) == [logs[1].id, logs[0].id]
    assert await ids(success=True, webhook_id=one.id, trigger=Trigger.EVENT) == [logs[0].id]

    pages, before = [], None
    while page := await ids(before_id=before, limit=2):
        pages.append(page)
        before = page[-1]
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert await ids(before_id=logs[2].id, webhook_id=two.id) == []


async def test_list_deliveries_filters_and_pages_newest_first(store: Store) -> None:
    tenant, other = await add_tenant(store), await add_tenant(store)
    one, two = await add_webhook(store, tenant), await add_webhook(store, tenant)
    await add_webhook(store, other)
    t0 = utcnow()
    events = [new_event(tenant, at=t0 + timedelta(seconds=i)) for i in range(3)]
    await store.publish(events, None, t0)
    await store.publish([new_event(other)], None, t0)
    [first] = await store.claim_due(t0, 1, t0 + LEASE, token())
    assert first.event_id == events[0].id
    await store.complete([outcome(first, DeliveryStatus.SUCCEEDED, at=t0)], t0)

    everything = await deliveries_of(store, tenant)
    assert [d.id for d in everything] == sorted((d.id for d in everything), reverse=True)
    assert len(everything) == 6
    assert everything[0].event_id == events[2].id  # newest event first

    async def ids(**query: object) -> list[str]:
        found = await store.list_deliveries(tenant.id, DeliveryFilter(**query))  # type: ignore[arg-type]
        return [d.id for d in found]

    assert await ids(webhook_id=one.id) == [d.id for d in everything if d.webhook_id == one.id]
    assert len(await ids(webhook_id=two.id)) == 3
    assert await ids(event_id=events[1].id) == [
        d.id for d in everything if d.event_id == events[1].id
    ]
    assert await ids(status=DeliveryStatus.SUCCEEDED) == [first.id]
    assert len(await ids(status=DeliveryStatus.PENDING)) == 5
    assert await ids(status=DeliveryStatus.FAILED) == []
    assert (
        await ids(status=DeliveryStatus.PENDING, webhook_id=first.webhook_id, event_id=events[0].id)
        == []
    )

    pages, before = [], None
    while page := await ids(before_id=before, limit=4):
        pages.append(page)
        before = page[-1]
    assert pages == [[d.id for d in everything[:4]], [d.id for d in everything[4:]]]


async def test_get_delivery_is_the_tenants_own(store: Store) -> None:
    tenant, stranger = await add_tenant(store), await add_tenant(store)
    webhook = await add_webhook(store, tenant)
    now = utcnow()
    event = new_event(tenant, at=now)
    await store.publish([event], None, now)
    [delivery] = await deliveries_of(store, tenant)
    assert await store.get_delivery(tenant.id, delivery.id) == delivery
    assert await store.get_delivery(stranger.id, delivery.id) is None
    assert await store.get_delivery(tenant.id, new_id(IdPrefix.DELIVERY)) is None
    # History outlives the webhook.
    await store.delete_webhook(tenant.id, webhook.id, now + MS)
    kept = await store.get_delivery(tenant.id, delivery.id)
    assert kept is not None
    assert (kept.status, kept.next_attempt_at) == (DeliveryStatus.CANCELLED, None)


async def test_insert_delivery_queues_a_resend(store: Store) -> None:
    tenant = await add_tenant(store)
    webhook = await add_webhook(store, tenant)
    t0 = utcnow()
    event = new_event(tenant, at=t0, data={"ü": 1})
    await store.publish([event], None, t0)
    [original] = await claim(store, t0)
    await store.complete([outcome(original, DeliveryStatus.FAILED, at=t0)], t0)

    t1 = t0 + timedelta(minutes=5)
    resend = Delivery(
        id=new_id(IdPrefix.DELIVERY),
        tenant_id=tenant.id,
        webhook_id=webhook.id,
        event_id=event.id,
        event=event.event,
        trigger=Trigger.RESEND,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=t1,
        last_status_code=None,
        last_error=None,
        created_at=t1,
        updated_at=t1,
    )
    await store.insert_delivery(resend)
    assert await store.get_delivery(tenant.id, resend.id) == resend
    assert await store.next_due_at() == t1
    [claimed] = await claim(store, t1)
    assert (claimed.id, claimed.trigger, claimed.body) == (resend.id, Trigger.RESEND, event.body)


# -- waking the workers --------------------------------------------------------------------------


async def test_new_work_wakes_a_waiting_worker(store: Store, other_store: Store) -> None:
    # PostgreSQL: work queued by another process (store instance) wakes us; SQLite has one
    # process per file, so work queued by this store does.
    tenant = await add_tenant(store)
    webhook = await add_webhook(store, tenant)
    source = other_store if is_postgres(store) else store
    assert await store.wait_for_work(0.2) is False  # (PostgreSQL: now listening)
    loop = asyncio.get_running_loop()

    waiter = asyncio.create_task(store.wait_for_work(10))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    started = loop.time()
    event = new_event(tenant)
    await source.publish([event], None, utcnow())
    assert await asyncio.wait_for(waiter, 5) is True
    assert loop.time() - started < 1.0

    waiter = asyncio.create_task(store.wait_for_work(10))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    resend = Delivery(
        new_id(IdPrefix.DELIVERY), tenant.id, webhook.id, event.id, event.event,
        Trigger.RESEND, DeliveryStatus.PENDING, 0, utcnow(), None, None, utcnow(), utcnow(),
    )  # fmt: skip
    await source.insert_delivery(resend)
    assert await asyncio.wait_for(waiter, 5) is True

    # A publish that queues nothing wakes nobody.
    await source.publish([new_event(tenant, "EngagementRequested")], None, utcnow())
    assert await store.wait_for_work(0.2) is False


async def test_wait_for_work_ends_after_max_wait_without_work(store: Store) -> None:
    loop = asyncio.get_running_loop()
    for max_wait in (0.1, 0.2):
        started = loop.time()
        assert await store.wait_for_work(max_wait) is False
        assert max_wait - 0.02 <= loop.time() - started < max_wait + 0.5
