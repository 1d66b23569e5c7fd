"""Claims that skip full endpoints start where the last one found something to take.

A hanging endpoint's due deliveries stay at the head of the due index while the engine skips
it; reading past all of them at every claim cost 2.4 ms a claim at 10,000 on SQLite (scenario
7), 8.8 ms of PostgreSQL's time at 20,000. The floor (skip_floor) must never hide for long a
delivery that can be taken: each store is driven here at chosen times ("now" is a claim's
argument), on a real SQLite file and the real PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from tests.store.test_queue_contract import add_tenant, add_webhook, new_event

from hookline.domain.deliveries import ClaimedDelivery
from hookline.domain.tenants import Tenant
from hookline.domain.times import utcnow
from hookline.store.base import SkippingClaims, Store
from hookline.store.skip_floor import NONE, REFRESH_MS, SkipFloor

LEASE = timedelta(seconds=30)
MS = timedelta(milliseconds=1)


async def publish_a_ms_apart(store: Store, tenant: Tenant, count: int) -> datetime:
    """``count`` events, one a millisecond from now (each makes a delivery per webhook);
    answers a time a second later, when all are due."""
    t0 = utcnow()
    for i in range(count):
        await store.publish([new_event(tenant, at=t0 + i * MS)], None, t0 + i * MS)
    return t0 + timedelta(seconds=1)


async def claim(
    store: Store, at: datetime, skip: list[str], limit: int = 1, lease: timedelta = LEASE
) -> list[ClaimedDelivery]:
    assert isinstance(store, SkippingClaims)  # both stores are
    return await store.claim_due_skipping(at, limit, at + lease, f"tok-{at.timestamp()}", skip)


async def test_a_skipped_backlog_is_read_past_once_and_nothing_is_lost(
    store: Store,
) -> None:
    tenant = await add_tenant(store)
    hanging, healthy = [await add_webhook(store, tenant) for _ in range(2)]
    now = await publish_a_ms_apart(store, tenant, 30)
    taken = [d for _ in range(30) for d in await claim(store, now, [hanging.id])]
    assert {d.webhook_id for d in taken} == {healthy.id}
    assert len(taken) == 30  # all of them, one claim each, oldest first
    assert [d.event_id for d in taken] == sorted(d.event_id for d in taken)
    assert await claim(store, now, [hanging.id]) == []
    # Skipped no longer: its whole backlog is there, from the head.
    rest = await claim(store, now, [], limit=100)
    assert len(rest) == 30
    assert {d.webhook_id for d in rest} == {hanging.id}


async def test_a_lease_that_runs_out_behind_the_floor_waits_at_most_the_refresh(
    store: Store,
) -> None:
    tenant = await add_tenant(store)
    hanging, healthy = [await add_webhook(store, tenant) for _ in range(2)]
    now = await publish_a_ms_apart(store, tenant, 4)
    # The oldest healthy delivery is taken with a short lease that will run out...
    [first] = await claim(store, now, [hanging.id], lease=timedelta(milliseconds=500))
    [second] = await claim(store, now, [hanging.id])  # ...and the floor moves past it.
    assert (first.webhook_id, second.webhook_id) == (healthy.id, healthy.id)
    later = now + timedelta(milliseconds=600)  # first's lease is over; the floor still holds
    [third] = await claim(store, later, [hanging.id])
    assert third.id not in (first.id, second.id)
    refreshed = now + timedelta(milliseconds=REFRESH_MS + 1)
    again = await claim(store, refreshed, [hanging.id], limit=10)
    assert first.id in [d.id for d in again]  # taken again once the floor is refreshed


async def test_a_webhook_enabled_again_is_claimed_at_once(store: Store) -> None:
    tenant = await add_tenant(store)
    hanging, healthy, paused = [await add_webhook(store, tenant) for _ in range(3)]
    now = await publish_a_ms_apart(store, tenant, 3)
    # Paused behind its deliveries' backs (nothing cancelled them): not claimable for now.
    assert await store.update_webhook(replace(paused, enabled=False), cancel_pending=False)
    taken = [d for _ in range(2) for d in await claim(store, now, [hanging.id])]
    assert {d.webhook_id for d in taken} == {healthy.id}  # the floor is past paused's first
    assert await store.update_webhook(replace(paused, enabled=True), cancel_pending=False)
    soon = now + 10 * MS
    back = await claim(store, soon, [hanging.id], limit=10)
    assert {d.webhook_id for d in back} == {healthy.id, paused.id}
    assert len(back) == 4  # paused's 3 and healthy's last one


def test_the_floor_holds_while_the_skipped_set_does_not_shrink() -> None:
    floor = SkipFloor()
    assert floor.start(["a"], 1_000) == NONE
    floor.claimed(["a"], NONE, 500, 1_000)
    assert floor.start(["a"], 1_001) == 500
    assert floor.start(["a", "b"], 1_001) == 500  # more skipped: still nothing to take behind
    assert floor.start(["b"], 1_001) == NONE  # a is taken again: its rows are behind
    assert floor.start([], 1_001) == NONE
    floor.claimed(["a"], 500, None, 1_100)  # nothing taken from the floor: it stays
    assert floor.start(["a"], 1_100) == 500
    floor.claimed(["a"], 500, 700, 1_200)  # it moves on, still dated from the full read
    assert floor.start(["a"], 1_000 + REFRESH_MS) == 700
    assert floor.start(["a"], 1_001 + REFRESH_MS) == NONE
    assert floor.start(["a"], 999) == NONE  # the clock went back
    floor.forget()
    assert floor.start(["a"], 1_200) == NONE
    floor.claimed([], NONE, 300, 1_300)
    assert floor.start(["a"], 1_300) == NONE
