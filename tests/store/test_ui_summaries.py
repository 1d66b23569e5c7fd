"""Summaries behind the web UI's webhooks list and status page, on both stores."""

from __future__ import annotations

from datetime import timedelta

from hookline.domain.deliveries import AttemptLog, Trigger
from hookline.domain.tenants import Tenant
from hookline.domain.times import utcnow
from hookline.domain.webhooks import Webhook
from hookline.ids import IdPrefix, new_id
from hookline.store import Store


def _log(tenant_id: str, webhook_id: str, success: bool, status: int, offset: float) -> AttemptLog:
    return AttemptLog(
        id=new_id(IdPrefix.LOG),
        tenant_id=tenant_id,
        delivery_id=None,
        webhook_id=webhook_id,
        event_id=None,
        event="ReportPublished",
        client_cuid=None,
        attempt=1,
        trigger=Trigger.TEST,
        url="http://127.0.0.1/x",
        request_headers={},
        request_body="{}",
        status_code=status,
        response_headers={},
        response_body="",
        duration_ms=3,
        success=success,
        error=None if success else "Failed to call webhook: HTTP 500",
        created_at=utcnow() + timedelta(seconds=offset),
    )


async def test_attempt_stats_and_webhook_activity(store: Store) -> None:
    now = utcnow()
    tenant = Tenant(new_id(IdPrefix.TENANT), "acme", True, now)
    other = Tenant(new_id(IdPrefix.TENANT), "other", True, now)
    await store.insert_tenant(tenant)
    await store.insert_tenant(other)
    hooks = []
    for name in ("a", "b"):
        hook = Webhook(
            new_id(IdPrefix.WEBHOOK),
            tenant.id,
            name,
            "http://x.test/",
            (),
            ("ReportPublished",),
            None,
            True,
            True,
            now,
            now,
        )
        await store.insert_webhook(hook)
        hooks.append(hook.id)
    await store.insert_log(_log(tenant.id, hooks[0], True, 200, -7200))  # too old for stats
    await store.insert_log(_log(tenant.id, hooks[0], False, 500, -5))
    await store.insert_log(_log(tenant.id, hooks[0], True, 204, -1))
    await store.insert_log(_log(other.id, hooks[1], True, 200, -1))  # another tenant's

    stats = await store.attempt_stats(tenant.id, now - timedelta(hours=1))
    assert (stats.total, stats.succeeded) == (2, 1)

    activity = await store.webhook_activity(
        tenant.id, [hooks[1], hooks[0]], now - timedelta(days=1)
    )
    assert [a.webhook_id for a in activity] == [hooks[1], hooks[0]]
    assert activity[0].last_attempt_at is None
    assert activity[0].last_success is None
    assert activity[1].last_success is True
    assert activity[1].last_status_code == 204
    assert activity[1].failed_recently == 0
    assert await store.webhook_activity(tenant.id, [], now) == []
