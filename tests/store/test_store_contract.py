"""The Store contract, written once and run on every backend (``store`` is parametrised)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hookline.domain.tenants import ApiKey, Role, Tenant
from hookline.domain.times import utcnow
from hookline.domain.webhooks import EventType, Webhook
from hookline.errors import Conflict
from hookline.ids import IdPrefix, new_id
from hookline.store import Store, WebhookFilter

BUILT_IN = {"ReportPublished", "AssessmentSubmitted", "EngagementRequested"}


def make_tenant(name: str | None = None, *, at: datetime | None = None) -> Tenant:
    return Tenant(
        id=new_id(IdPrefix.TENANT),
        name=name or f"tenant-{secrets.token_hex(4)}",
        enabled=True,
        created_at=at or utcnow(),
    )


def make_key(tenant: Tenant, role: Role = Role.ADMIN, *, at: datetime | None = None) -> ApiKey:
    return ApiKey(
        id=new_id(IdPrefix.KEY),
        tenant_id=tenant.id,
        role=role,
        prefix=f"hk_{secrets.token_hex(3)}",
        created_at=at or utcnow(),
    )


def make_webhook(tenant: Tenant, **fields: object) -> Webhook:
    now = utcnow()
    webhook = Webhook(
        id=new_id(IdPrefix.WEBHOOK),
        tenant_id=tenant.id,
        name="Reports to Slack",
        url="https://hooks.example.com/in",
        client_cuids=(),
        events=("ReportPublished",),
        secret_ciphertext=None,
        ssl_verification=True,
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    return replace(webhook, **fields)  # type: ignore[arg-type]


async def add_tenant(store: Store, name: str | None = None) -> Tenant:
    tenant = make_tenant(name)
    await store.insert_tenant(tenant)
    return tenant


def later(moment: datetime, ms: int = 1) -> datetime:
    return moment + timedelta(milliseconds=ms)


# -- lifecycle and migrations --------------------------------------------------------------------


async def test_migrate_again_applies_nothing(store: Store) -> None:
    assert await store.migrate() == []
    assert await store.migrate() == []


async def test_ping_answers(store: Store) -> None:
    await store.ping()


async def test_built_in_event_types_are_present(store: Store) -> None:
    types = await store.list_event_types()
    assert {t.name for t in types} >= BUILT_IN
    for event_type in types:
        assert event_type.removed_at is None
        assert event_type.description
        assert event_type.created_at.tzinfo is not None
        assert event_type.created_at.utcoffset() == timedelta(0)
        assert event_type.created_at.microsecond % 1000 == 0


# -- tenants -----------------------------------------------------------------------------------


async def test_tenant_round_trip(store: Store) -> None:
    tenant = await add_tenant(store, "acme")
    assert await store.get_tenant(tenant.id) == tenant
    assert await store.get_tenant_by_name("acme") == tenant
    assert await store.get_tenant(new_id(IdPrefix.TENANT)) is None
    assert await store.get_tenant_by_name("nobody") is None


async def test_tenants_are_listed_oldest_first(store: Store) -> None:
    start = utcnow()
    tenants = [make_tenant(f"t{i}", at=later(start, i)) for i in range(3)]
    for tenant in reversed(tenants):
        await store.insert_tenant(tenant)
    assert await store.list_tenants() == tenants


async def test_tenant_can_be_disabled_and_enabled(store: Store) -> None:
    tenant = await add_tenant(store)
    assert await store.set_tenant_enabled(tenant.id, False) is True
    assert await store.get_tenant(tenant.id) == replace(tenant, enabled=False)
    assert await store.set_tenant_enabled(tenant.id, True) is True
    assert await store.get_tenant(tenant.id) == tenant
    assert await store.set_tenant_enabled(new_id(IdPrefix.TENANT), False) is False


async def test_duplicate_tenant_name_is_a_conflict(store: Store) -> None:
    first = await add_tenant(store, "acme")
    with pytest.raises(Conflict):
        await store.insert_tenant(make_tenant("acme"))
    # The failed insert left nothing behind and the store still works.
    assert await store.list_tenants() == [first]
    await add_tenant(store, "other")


# -- API keys ----------------------------------------------------------------------------------


async def test_fresh_store_has_no_keys(store: Store) -> None:
    assert await store.count_api_keys() == 0
    assert await store.list_api_keys() == []


async def test_api_key_round_trip(store: Store) -> None:
    acme, other = await add_tenant(store, "acme"), await add_tenant(store, "other")
    start = utcnow()
    admin = make_key(acme, Role.ADMIN, at=start)
    viewer = make_key(acme, Role.VIEWER, at=later(start, 1))
    publisher = make_key(other, Role.PUBLISHER, at=later(start, 2))
    await store.insert_api_key(viewer, "hash-viewer")
    await store.insert_api_key(admin, "hash-admin")
    await store.insert_api_key(publisher, "hash-publisher")

    assert await store.find_api_key("hash-admin") == (admin, acme)
    assert await store.find_api_key("hash-publisher") == (publisher, other)
    assert await store.find_api_key("no-such-hash") is None
    assert await store.list_api_keys(acme.id) == [admin, viewer]
    assert await store.list_api_keys(other.id) == [publisher]
    assert await store.list_api_keys() == [admin, viewer, publisher]
    assert await store.list_api_keys(new_id(IdPrefix.TENANT)) == []
    assert await store.count_api_keys() == 3


async def test_found_key_carries_the_current_tenant(store: Store) -> None:
    tenant = await add_tenant(store)
    key = make_key(tenant)
    await store.insert_api_key(key, "h")
    await store.set_tenant_enabled(tenant.id, False)
    assert await store.find_api_key("h") == (key, replace(tenant, enabled=False))


async def test_revoked_key_is_listed_but_not_found(store: Store) -> None:
    tenant = await add_tenant(store)
    key = make_key(tenant)
    await store.insert_api_key(key, "h")
    now = later(utcnow(), 5)
    assert await store.revoke_api_key(key.id, now) is True
    assert await store.revoke_api_key(key.id, later(now)) is False
    assert await store.revoke_api_key(new_id(IdPrefix.KEY), now) is False
    assert await store.find_api_key("h") is None
    [listed] = await store.list_api_keys(tenant.id)
    assert listed == replace(key, revoked_at=now)
    assert listed.revoked
    assert await store.count_api_keys() == 1


async def test_duplicate_key_hash_is_a_conflict(store: Store) -> None:
    tenant = await add_tenant(store)
    await store.insert_api_key(make_key(tenant), "same")
    with pytest.raises(Conflict):
        await store.insert_api_key(make_key(tenant), "same")
    assert await store.count_api_keys() == 1


# -- event catalogue -----------------------------------------------------------------------------


async def test_event_type_add_remove_and_bring_back(store: Store) -> None:
    now = utcnow()
    added = EventType("FindingCreated", "A finding was created.", now)
    assert await store.upsert_event_type(added) is True
    assert added in await store.list_event_types()

    # An active type is not replaced.
    assert await store.upsert_event_type(replace(added, description="other")) is False
    assert added in await store.list_event_types()

    removed_at = later(now, 10)
    assert await store.remove_event_type("FindingCreated", removed_at) is True
    assert await store.remove_event_type("FindingCreated", removed_at) is False
    assert await store.remove_event_type("NoSuchType", removed_at) is False
    assert "FindingCreated" not in {t.name for t in await store.list_event_types()}
    everything = await store.list_event_types(include_removed=True)
    assert replace(added, removed_at=removed_at) in everything

    # A removed type comes back, active, with the new description.
    again = EventType("FindingCreated", "Created again.", later(now, 20))
    assert await store.upsert_event_type(again) is True
    [back] = [t for t in await store.list_event_types() if t.name == "FindingCreated"]
    assert back.description == "Created again."
    assert back.removed_at is None


async def test_event_types_are_listed_by_name(store: Store) -> None:
    for name in ("Zeta", "Alpha", "Mid"):
        await store.upsert_event_type(EventType(name, "", utcnow()))
    await store.remove_event_type("Mid", utcnow())
    names = [t.name for t in await store.list_event_types()]
    assert names == sorted(names)
    assert "Mid" not in names
    all_names = [t.name for t in await store.list_event_types(include_removed=True)]
    assert all_names == sorted(all_names)
    assert {"Alpha", "Mid", "Zeta"} <= set(all_names)


# -- webhooks ----------------------------------------------------------------------------------


async def test_webhook_round_trip(store: Store, raw) -> None:
    tenant = await add_tenant(store)
    plain = make_webhook(tenant)
    full = make_webhook(
        tenant,
        client_cuids=("c1", "c2"),
        events=("ReportPublished", "AssessmentSubmitted"),
        secret_ciphertext="v1:ciphertext",
        ssl_verification=False,
        enabled=False,
    )
    for webhook in (plain, full):
        await store.insert_webhook(webhook)
        assert await store.get_webhook(tenant.id, webhook.id) == webhook
    assert not (await store.get_webhook(tenant.id, plain.id)).has_secret  # type: ignore[union-attr]
    assert await raw.subscriptions(full.id) == [
        (tenant.id, "AssessmentSubmitted"),
        (tenant.id, "ReportPublished"),
    ]


async def test_other_tenants_webhook_is_not_found(store: Store) -> None:
    owner, stranger = await add_tenant(store), await add_tenant(store)
    webhook = make_webhook(owner)
    await store.insert_webhook(webhook)
    assert await store.get_webhook(stranger.id, webhook.id) is None
    assert await store.get_webhook(owner.id, new_id(IdPrefix.WEBHOOK)) is None
    assert await store.list_webhooks(stranger.id, WebhookFilter()) == []
    assert (
        await store.update_webhook(replace(webhook, tenant_id=stranger.id), cancel_pending=True)
        is False
    )
    assert await store.delete_webhook(stranger.id, webhook.id, utcnow()) is False
    assert await store.get_webhook(owner.id, webhook.id) == webhook


async def test_list_webhooks_filters_and_pages(store: Store) -> None:
    tenant, other = await add_tenant(store), await add_tenant(store)
    hooks = [
        make_webhook(tenant, name="a", events=("ReportPublished",)),
        make_webhook(tenant, name="b", events=("AssessmentSubmitted",), enabled=False),
        make_webhook(tenant, name="c", events=("ReportPublished", "EngagementRequested")),
        make_webhook(tenant, name="d", events=("EngagementRequested",), enabled=False),
        make_webhook(tenant, name="e", events=("ReportPublished",)),
    ]
    for webhook in hooks:
        await store.insert_webhook(webhook)
    await store.insert_webhook(make_webhook(other))
    by_id = sorted(hooks, key=lambda w: w.id)

    assert await store.list_webhooks(tenant.id, WebhookFilter()) == by_id
    enabled = await store.list_webhooks(tenant.id, WebhookFilter(enabled=True))
    assert enabled == [w for w in by_id if w.enabled]
    disabled = await store.list_webhooks(tenant.id, WebhookFilter(enabled=False))
    assert disabled == [w for w in by_id if not w.enabled]
    reports = await store.list_webhooks(tenant.id, WebhookFilter(event="ReportPublished"))
    assert reports == [w for w in by_id if "ReportPublished" in w.events]
    both = WebhookFilter(enabled=False, event="EngagementRequested")
    assert [w.name for w in await store.list_webhooks(tenant.id, both)] == ["d"]
    assert await store.list_webhooks(tenant.id, WebhookFilter(event="Nothing")) == []

    # Keyset paging: two at a time, each page starting after the last id of the previous.
    pages: list[list[Webhook]] = []
    after: str | None = None
    while True:
        page = await store.list_webhooks(tenant.id, WebhookFilter(after_id=after, limit=2))
        if not page:
            break
        pages.append(page)
        after = page[-1].id
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [w for p in pages for w in p] == by_id

    # Paging combines with the filters.
    first = await store.list_webhooks(tenant.id, WebhookFilter(event="ReportPublished", limit=1))
    rest = await store.list_webhooks(
        tenant.id, WebhookFilter(event="ReportPublished", after_id=first[0].id, limit=10)
    )
    assert first + rest == reports


async def test_update_replaces_fields_and_subscriptions(store: Store, raw) -> None:
    tenant = await add_tenant(store)
    webhook = make_webhook(tenant, events=("ReportPublished",), client_cuids=("c1",))
    await store.insert_webhook(webhook)
    changed = replace(
        webhook,
        name="Renamed",
        url="https://other.example.com/hook",
        client_cuids=(),
        events=("AssessmentSubmitted", "EngagementRequested"),
        secret_ciphertext="v1:new",
        ssl_verification=False,
        enabled=False,
        updated_at=later(webhook.updated_at, 50),
    )
    assert await store.update_webhook(changed, cancel_pending=False) is True
    assert await store.get_webhook(tenant.id, webhook.id) == changed
    assert await raw.subscriptions(webhook.id) == [
        (tenant.id, "AssessmentSubmitted"),
        (tenant.id, "EngagementRequested"),
    ]
    assert await store.list_webhooks(tenant.id, WebhookFilter(event="ReportPublished")) == []
    found = await store.list_webhooks(tenant.id, WebhookFilter(event="EngagementRequested"))
    assert found == [changed]

    # Back to a secret-less webhook: None is stored, not kept from before.
    cleared = replace(changed, secret_ciphertext=None, updated_at=later(changed.updated_at))
    assert await store.update_webhook(cleared, cancel_pending=False) is True
    assert await store.get_webhook(tenant.id, webhook.id) == cleared

    unknown = replace(webhook, id=new_id(IdPrefix.WEBHOOK))
    assert await store.update_webhook(unknown, cancel_pending=False) is False


async def test_deleted_webhook_is_gone(store: Store, raw) -> None:
    tenant = await add_tenant(store)
    kept, doomed = make_webhook(tenant), make_webhook(tenant)
    await store.insert_webhook(kept)
    await store.insert_webhook(doomed)
    now = later(utcnow(), 10)
    assert await store.delete_webhook(tenant.id, doomed.id, now) is True

    # The row stays for history (deliveries and logs point at it), disabled and marked.
    [(enabled, deleted_at)] = await raw.fetch(
        "SELECT enabled, deleted_at FROM webhooks WHERE id = ?", doomed.id
    )
    assert not enabled
    assert raw.time(deleted_at) == now
    assert await store.get_webhook(tenant.id, doomed.id) is None
    assert await store.list_webhooks(tenant.id, WebhookFilter()) == [kept]
    assert await store.list_webhooks(tenant.id, WebhookFilter(event="ReportPublished")) == [kept]
    assert await raw.subscriptions(doomed.id) == []
    assert await store.delete_webhook(tenant.id, doomed.id, utcnow()) is False
    assert await store.update_webhook(doomed, cancel_pending=True) is False
    assert await store.get_webhook(tenant.id, doomed.id) is None


# -- cancelling pending deliveries ---------------------------------------------------------------


async def _webhook_with_deliveries(store: Store, raw) -> tuple[Webhook, dict[str, str]]:
    """A webhook with one delivery in each status; returns it and {status: delivery id}."""
    tenant = await add_tenant(store)
    webhook = make_webhook(tenant)
    await store.insert_webhook(webhook)
    at = utcnow()
    event_id = new_id(IdPrefix.EVENT)
    await raw.insert_event(event_id, tenant.id, "ReportPublished", at)
    ids: dict[str, str] = {}
    for status in ("pending", "delivering", "succeeded", "failed", "cancelled"):
        ids[status] = new_id(IdPrefix.DELIVERY)
        await raw.insert_delivery(
            ids[status],
            tenant_id=tenant.id,
            webhook_id=webhook.id,
            event_id=event_id,
            event="ReportPublished",
            status=status,
            at=at,
        )
    return webhook, ids


async def _statuses(raw, ids: dict[str, str]) -> dict[str, str]:
    return {was: (await raw.delivery(delivery_id))[0] for was, delivery_id in ids.items()}


UNCHANGED = {s: s for s in ("pending", "delivering", "succeeded", "failed", "cancelled")}
ONLY_PENDING_CANCELLED = {**UNCHANGED, "pending": "cancelled"}


async def test_update_with_cancel_pending_cancels_only_pending(store: Store, raw) -> None:
    webhook, ids = await _webhook_with_deliveries(store, raw)
    disabled = replace(webhook, enabled=False, updated_at=later(webhook.updated_at, 100))
    assert await store.update_webhook(disabled, cancel_pending=True) is True
    assert await _statuses(raw, ids) == ONLY_PENDING_CANCELLED
    assert await raw.delivery(ids["pending"]) == ("cancelled", disabled.updated_at)


async def test_update_without_cancel_pending_leaves_deliveries(store: Store, raw) -> None:
    webhook, ids = await _webhook_with_deliveries(store, raw)
    renamed = replace(webhook, name="new name", updated_at=later(webhook.updated_at, 100))
    assert await store.update_webhook(renamed, cancel_pending=False) is True
    assert await _statuses(raw, ids) == UNCHANGED


async def test_delete_cancels_only_pending(store: Store, raw) -> None:
    webhook, ids = await _webhook_with_deliveries(store, raw)
    now = later(utcnow(), 100)
    assert await store.delete_webhook(webhook.tenant_id, webhook.id, now) is True
    assert await _statuses(raw, ids) == ONLY_PENDING_CANCELLED
    assert await raw.delivery(ids["pending"]) == ("cancelled", now)


async def test_failed_update_cancels_nothing(store: Store, raw) -> None:
    webhook, ids = await _webhook_with_deliveries(store, raw)
    assert await store.delete_webhook(webhook.tenant_id, webhook.id, utcnow()) is True
    await raw.execute("UPDATE deliveries SET status = 'pending' WHERE id = ?", ids["cancelled"])
    assert await store.update_webhook(webhook, cancel_pending=True) is False
    assert await store.delete_webhook(webhook.tenant_id, webhook.id, utcnow()) is False
    assert (await raw.delivery(ids["cancelled"]))[0] == "pending"


# -- values --------------------------------------------------------------------------------------


async def test_unicode_round_trips(store: Store) -> None:
    tenant = await add_tenant(store, 'Zürich 東京 🚀 O\'Brien "quoted"')
    assert await store.get_tenant_by_name(tenant.name) == tenant
    webhook = make_webhook(
        tenant,
        name="Rapports publiés — 报告 ✓",
        url="https://hooks.example.com/in?q=%C3%A9",
        client_cuids=("clïent-1", "客户", "emoji-🎉", "back\\slash", 'quote"'),
        secret_ciphertext="ciphertext-ünïcode",
    )
    await store.insert_webhook(webhook)
    assert await store.get_webhook(tenant.id, webhook.id) == webhook
    described = EventType("ÉvénementCréé", "Un événement — 事件 ✨", utcnow())
    assert await store.upsert_event_type(described) is True
    assert described in await store.list_event_types()
    listed = await store.list_webhooks(tenant.id, WebhookFilter(event="ReportPublished"))
    assert listed == [webhook]


async def test_times_round_trip_to_the_millisecond(store: Store) -> None:
    exact = datetime(2031, 5, 6, 7, 8, 9, 123_000, tzinfo=UTC)
    tenant = make_tenant(at=exact)
    await store.insert_tenant(tenant)
    got = await store.get_tenant(tenant.id)
    assert got is not None
    assert got.created_at == exact
    assert got.created_at.utcoffset() == timedelta(0)

    # Finer input is kept to the millisecond, whichever way a backend rounds.
    fine = datetime(2031, 5, 6, 7, 8, 9, 456_789, tzinfo=UTC)
    other = make_tenant(at=fine)
    await store.insert_tenant(other)
    got = await store.get_tenant(other.id)
    assert got is not None
    assert got.created_at.microsecond % 1000 == 0
    assert abs(got.created_at - fine) < timedelta(milliseconds=1)

    webhook = make_webhook(tenant, created_at=exact, updated_at=later(exact, 1))
    await store.insert_webhook(webhook)
    assert await store.get_webhook(tenant.id, webhook.id) == webhook
    key = make_key(tenant, at=exact)
    await store.insert_api_key(key, "h")
    await store.revoke_api_key(key.id, later(exact, 999))
    assert await store.list_api_keys(tenant.id) == [replace(key, revoked_at=later(exact, 999))]
