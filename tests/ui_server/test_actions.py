"""Test, reveal, logs and resend in the web UI, against a real loopback receiver."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.delivery.conftest import Receiver
from tests.ui_server.conftest import Keys, by_testid, csrf_of, make_keys, seed_pages, text_of, token

from hookline.domain.webhooks import WebhookDraft
from hookline.errors import NotFound
from hookline.runtime import Services
from hookline.services.deliveries import DeliveryQuery
from hookline.services.events import EventInput
from hookline.ui.pages.logs import local_time


async def _hook(services: Services, keys: Keys, url: str, secret: str | None = None) -> str:
    draft = WebhookDraft(name="Receiver", url=url, events=("ReportPublished",), secret=secret)
    return (await services.webhooks.create(keys.principal, draft)).id


Drain = Callable[[], Awaitable[None]]


@pytest.fixture
async def drain(services: Services) -> AsyncIterator[Drain]:
    """The delivery engine running in this process; awaiting ``drain()`` waits until the
    queue is empty."""
    services.roles = {"api", "engine"}
    task = asyncio.create_task(services.engine.run())

    async def wait() -> None:
        for _ in range(500):
            await asyncio.sleep(0.02)
            if (await services.store.queue_stats(datetime.now(UTC))).live == 0:
                return
        raise AssertionError("the queue did not drain")

    try:
        yield wait
    finally:
        services.engine.stop()
        await task


async def test_the_test_button_shows_the_receivers_answer(
    admin: httpx.AsyncClient, services: Services, acme: Keys, receiver: Receiver
) -> None:
    hook = await _hook(services, acme, receiver.url("/tested"), secret="tested-secret-01")
    csrf = await token(admin, f"/ui/webhooks/{hook}")
    answer = await admin.post(f"/ui/webhooks/{hook}/test", data={"csrf_token": csrf})
    assert answer.status_code == 200
    result = text_of(answer.text, "test-result")
    assert "delivered" in result
    assert text_of(answer.text, "test-status") == "200"
    assert text_of(answer.text, "test-duration").endswith(" ms")
    assert text_of(answer.text, "test-body") == '{"received":true}'
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["x-authorization-hmac-256"]
    assert re.search(r'href="/ui/logs/log_\w+"', answer.text)


async def test_the_test_button_shows_a_dead_endpoint_and_the_rate_limit(
    admin: httpx.AsyncClient, services: Services, acme: Keys, receiver: Receiver
) -> None:
    dead = receiver.url("/dead").replace(str(receiver.port), "9")  # nothing listens on port 9
    hook = await _hook(services, acme, dead)
    csrf = await token(admin, f"/ui/webhooks/{hook}")
    answer = await admin.post(f"/ui/webhooks/{hook}/test", data={"csrf_token": csrf})
    assert answer.status_code == 200
    assert "Failed to call webhook" in text_of(answer.text, "test-error")
    assert text_of(answer.text, "test-status") == "no response"
    for _ in range(15):
        answer = await admin.post(f"/ui/webhooks/{hook}/test", data={"csrf_token": csrf})
        if answer.status_code == 429:
            break
    assert answer.status_code == 429
    assert "too many test requests" in text_of(answer.text, "test-result")
    assert "edit" in by_testid(answer.text)  # still the webhook's page


async def test_reveal_shows_the_secret_on_request_only(
    admin: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    hook = await _hook(services, acme, "https://hooks.example.com/x", secret="reveal-me-0123456")
    page = await admin.get(f"/ui/webhooks/{hook}")
    assert "reveal-me-0123456" not in page.text
    assert "secret-value" not in by_testid(page.text)
    answer = await admin.post(
        f"/ui/webhooks/{hook}/reveal", data={"csrf_token": csrf_of(page.text)}
    )
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert text_of(answer.text, "secret-value") == "reveal-me-0123456"
    unsigned = await _hook(services, acme, "https://hooks.example.com/y")
    assert "reveal-secret" not in by_testid((await admin.get(f"/ui/webhooks/{unsigned}")).text)


async def test_a_delivered_event_is_in_the_logs_and_can_be_resent(
    admin: httpx.AsyncClient, services: Services, acme: Keys, receiver: Receiver, drain: Drain
) -> None:
    hook = await _hook(services, acme, receiver.url("/logged"), secret="siem-secret-77")
    data = {"reportId": "RPT-2024-0815", "findings": 7, "title": "Pentest é"}
    await services.events.publish(acme.principal, EventInput("ReportPublished", "c1", data))
    await drain()

    listed = await admin.get("/ui/logs")
    rows = by_testid(listed.text)["log-row"]
    assert len(rows) == 1
    log_id = rows[0]["attrs"]["data-log-id"]
    assert "ReportPublished" in rows[0]["text"]
    assert "200" in rows[0]["text"]
    assert f'href="/ui/logs/{log_id}"' in listed.text

    detail = await admin.get(f"/ui/logs/{log_id}")
    body = by_testid(detail.text)["request-body"][0]["text"]
    assert '"reportId": "RPT-2024-0815"' in body
    assert '"title": "Pentest é"' in body
    assert body.count("\n") >= 5
    headers = text_of(detail.text, "request-headers")
    assert "X-Authorization-HMAC-256" in headers
    assert "siem-secret-77" not in detail.text
    assert text_of(detail.text, "response-status") == "200"
    assert '"received": true' in text_of(detail.text, "response-body")
    assert "resend" in by_testid(detail.text)

    action = re.search(r'action="(/ui/deliveries/dlv_\w+/resend)"', detail.text)
    assert action is not None
    answer = await admin.post(
        action.group(1), data={"csrf_token": csrf_of(detail.text), "next": f"/ui/logs/{log_id}"}
    )
    assert (answer.status_code, answer.headers["location"]) == (303, f"/ui/logs/{log_id}")
    assert "Resend queued" in text_of((await admin.get(f"/ui/logs/{log_id}")).text, "flash")
    await drain()
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    triggers = [r["text"] for r in by_testid((await admin.get("/ui/logs")).text)["log-row"]]
    assert "resend" in triggers[0]
    assert "event" in triggers[1]
    status = await admin.get("/ui/status")
    assert text_of(status.text, "status-engine") == "running"
    assert text_of(status.text, "success-ratio") == "100.0 %"
    assert text_of(status.text, "attempts-per-minute") == "0.03"  # 2 attempts in an hour

    # A disabled webhook cannot be resent to: the service's message comes back as a flash.
    csrf = csrf_of(detail.text)
    await admin.post(f"/ui/webhooks/{hook}/toggle", data={"csrf_token": csrf, "enabled": "false"})
    (delivery, *_) = (await services.deliveries.deliveries(acme.principal, DeliveryQuery())).items
    answer = await admin.post(
        f"/ui/deliveries/{delivery.id}/resend", data={"csrf_token": csrf, "next": "/ui/logs"}
    )
    assert answer.status_code == 303
    assert "disabled" in text_of((await admin.get("/ui/logs")).text, "flash")


async def test_log_filters(
    admin: httpx.AsyncClient, services: Services, acme: Keys, receiver: Receiver, drain: Drain
) -> None:
    hook = await _hook(services, acme, receiver.url("/filtered"))
    await services.events.publish(acme.principal, EventInput("ReportPublished", None, {}))
    await drain()

    async def rows(query: str) -> int:
        page = await admin.get("/ui/logs" + query)
        assert page.status_code == 200, page.text
        return len(by_testid(page.text).get("log-row", []))

    assert await rows(f"?webhook_id={hook}") == 1
    assert await rows("?success=true&trigger=event&event=ReportPublished") == 1
    assert await rows("?success=false") == 0
    assert await rows("?trigger=test") == 0
    assert await rows("?since=2000-01-01T00:00") == 1
    assert await rows("?until=2000-01-01T00:00") == 0
    assert await rows("?since=2100-01-01T00:00&tz=-300") == 0
    filtered = await admin.get("/ui/logs?trigger=test")
    assert "No attempts match" in text_of(filtered.text, "empty-state")
    bad = await admin.get("/ui/logs?since=yesterday&trigger=nope&success=1")
    assert bad.status_code == 400
    error = text_of(bad.text, "page-error")
    assert "since" in error
    assert "trigger" in error
    assert "success" in error


def test_times_typed_in_the_browser_are_read_in_its_time_zone() -> None:
    errors: list = []
    berlin = local_time("2026-01-31T12:00", "60", "since", errors)
    assert berlin == datetime(2026, 1, 31, 11, 0, tzinfo=UTC)
    assert local_time("2026-01-31T12:00", "", "since", errors) == datetime(
        2026, 1, 31, 12, 0, tzinfo=UTC
    )
    explicit = local_time("2026-01-31T12:00:00+02:00", "60", "since", errors)
    assert explicit == datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    assert local_time("2026-01-31T12:00", "99999", "x", errors) == datetime(
        2026, 1, 31, 12, tzinfo=UTC
    )
    assert local_time("", "60", "since", errors) is None
    assert errors == []
    assert local_time("31/01/2026", "60", "until", errors) is None
    assert [e.field for e in errors] == ["until"]
    assert datetime(2026, 1, 31, 11, tzinfo=UTC) - timedelta(hours=1) < berlin


async def test_the_log_service_keeps_tenants_apart(services: Services, acme: Keys) -> None:
    log_id = (await seed_pages(services, acme))[5].rsplit("/", 1)[1]
    found = await services.deliveries.log(acme.principal, log_id)
    assert found.id == log_id
    globex = await make_keys(services, "globex")
    for principal, wanted in ((globex.principal, log_id), (acme.principal, "log_nope")):
        with pytest.raises(NotFound):
            await services.deliveries.log(principal, wanted)
