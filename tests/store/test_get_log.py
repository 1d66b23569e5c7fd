"""``Store.get_log``: one attempt log by id, only within its tenant, on both stores."""

from __future__ import annotations

from datetime import timedelta

from hookline.domain.deliveries import AttemptLog, Trigger
from hookline.domain.tenants import Tenant
from hookline.domain.times import utcnow
from hookline.domain.webhooks import Webhook
from hookline.ids import IdPrefix, new_id
from hookline.store import Store


def _log(tenant_id: str, webhook_id: str | None) -> AttemptLog:
    return AttemptLog(
        id=new_id(IdPrefix.LOG),
        tenant_id=tenant_id,
        delivery_id=None,
        webhook_id=webhook_id,
        event_id=new_id(IdPrefix.EVENT),
        event="ReportPublished",
        client_cuid="client-1",
        attempt=1,
        trigger=Trigger.TEST,
        url="https://hooks.example.com/in",
        request_headers={"Content-Type": "application/json", "X-Hookline-Attempt": "1"},
        request_body='{"id":"evt","data":{"é":1}}',
        status_code=502,
        response_headers={"Content-Type": "text/plain"},
        response_body="bad gateway",
        duration_ms=42,
        success=False,
        error="Failed to call webhook: HTTP 502",
        created_at=utcnow() - timedelta(seconds=3),
    )


async def test_get_log_returns_the_stored_log_within_its_tenant(store: Store) -> None:
    now = utcnow()
    tenant = Tenant(new_id(IdPrefix.TENANT), "acme", True, now)
    other = Tenant(new_id(IdPrefix.TENANT), "other", True, now)
    await store.insert_tenant(tenant)
    await store.insert_tenant(other)
    hook = Webhook(
        new_id(IdPrefix.WEBHOOK),
        tenant.id,
        "a",
        "https://hooks.example.com/in",
        (),
        ("ReportPublished",),
        None,
        True,
        True,
        now,
        now,
    )
    await store.insert_webhook(hook)
    stored = _log(tenant.id, hook.id)
    await store.insert_log(stored)
    await store.insert_log(_log(tenant.id, None))  # a neighbour that must not be answered

    assert await store.get_log(tenant.id, stored.id) == stored
    assert await store.get_log(other.id, stored.id) is None
    assert await store.get_log(tenant.id, new_id(IdPrefix.LOG)) is None

    # The log of a deleted webhook stays readable (contract 3: "its logs stay readable").
    assert await store.delete_webhook(tenant.id, hook.id, utcnow())
    assert await store.get_log(tenant.id, stored.id) == stored
