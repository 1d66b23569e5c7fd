"""``AsyncHookline`` against a real ``hookline serve``."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.client.conftest import Receiver, Server

from hookline.client import (
    AsyncHookline,
    AuthenticationError,
    EventIn,
    ForbiddenError,
    NotFoundError,
    UrlNotAllowed,
    ValidationError,
)
from hookline.signing import SIGNATURE_HEADER, verify

SECRET = "async-secret-0123"


@pytest.fixture
async def client(live: Server) -> AsyncIterator[AsyncHookline]:
    async with AsyncHookline(live.url, live.admin_key, timeout=15) as hookline:
        yield hookline


async def test_event_types(client: AsyncHookline) -> None:
    names = [t.name for t in await client.event_types()]
    assert "ReportPublished" in names


async def test_publish_and_batch_count_deliveries(
    client: AsyncHookline, receiver: Receiver
) -> None:
    await client.create_webhook("all", receiver.url, ["ReportPublished"])
    await client.create_webhook("c1", receiver.url, ["ReportPublished"], client_cuids=["c1"])

    one = await client.publish("ReportPublished", {"reportId": "r-1"}, client_cuid="c1")
    assert (one.deliveries, one.replayed) == (2, False)
    batch = await client.publish_batch(
        [
            EventIn("ReportPublished", client_cuid="c2"),
            {"event": "ReportPublished"},
            {"event": "ReportPublished", "clientCuid": "c1"},
        ]
    )
    assert [p.deliveries for p in batch] == [1, 1, 2]
    received = await asyncio.to_thread(receiver.wait_for, 2 + 4)
    assert one.id in {json.loads(r.body)["id"] for r in received}


async def test_idempotency_key_replays(client: AsyncHookline) -> None:
    await client.create_webhook("all", "http://127.0.0.1:9/", ["ReportPublished"])
    key = str(uuid.uuid4())
    first = await client.publish("ReportPublished", idempotency_key=key)
    again = await client.publish("ReportPublished", idempotency_key=key)
    assert (again.id, again.deliveries, again.replayed) == (first.id, 1, True)
    assert not first.replayed
    assert (await client.publish("ReportPublished")).id != first.id


async def test_webhook_crud_and_secret_removal(client: AsyncHookline) -> None:
    created = await client.create_webhook(
        "CRM", "http://127.0.0.1:9/", ["ReportPublished"], secret=SECRET, ssl_verification=False
    )
    assert created.has_secret
    assert not created.ssl_verification
    assert await client.get_webhook(created.id) == created
    assert await client.webhook_secret(created.id) == SECRET
    renamed = await client.update_webhook(created.id, name="CRM 2", client_cuids=["c7"])
    assert (renamed.name, renamed.client_cuids, renamed.has_secret) == ("CRM 2", ("c7",), True)
    assert renamed.updated_at >= created.updated_at
    unsigned = await client.update_webhook(created.id, secret=None)
    assert not unsigned.has_secret
    assert await client.webhook_secret(created.id) is None
    await client.delete_webhook(created.id)
    with pytest.raises(NotFoundError):
        await client.get_webhook(created.id)


async def test_iter_webhooks_follows_the_cursor(live: Server) -> None:
    requests: list[httpx.Request] = []

    class Recording(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return await super().handle_async_request(request)

    async with AsyncHookline(live.url, live.admin_key, transport=Recording()) as client:
        ids = [
            (await client.create_webhook(f"w{i}", "http://127.0.0.1:9/", ["ReportPublished"])).id
            for i in range(5)
        ]
        requests.clear()
        assert [w.id async for w in client.iter_webhooks(limit=2)] == ids
        assert [r.url.params.get("limit") for r in requests] == ["2", "2", "2"]
        page = await client.list_webhooks(
            limit=2, cursor=(await client.list_webhooks(limit=2)).next_cursor
        )
        assert [w.id for w in page] == ids[2:4]


async def test_typed_errors(live: Server, client: AsyncHookline) -> None:
    with pytest.raises(UrlNotAllowed) as refused:
        await client.create_webhook("x", "http://192.168.1.1/", ["ReportPublished"])
    assert refused.value.code == "url_not_allowed"
    assert "url" in refused.value.field_errors()
    with pytest.raises(NotFoundError):
        await client.update_webhook("wh_nope", name="y")
    with pytest.raises(ValidationError) as invalid:
        await client.publish("NoSuchEvent")
    assert "event" in invalid.value.field_errors()

    async with AsyncHookline(live.url, "hk_wrong-key-value") as stranger:
        with pytest.raises(AuthenticationError) as denied:
            await stranger.publish("ReportPublished")
        assert denied.value.status == 401
    async with AsyncHookline(live.url, live.viewer_key) as viewer:
        with pytest.raises(ForbiddenError) as forbidden:
            await viewer.create_webhook("x", "http://127.0.0.1:9/", ["ReportPublished"])
        assert forbidden.value.code == "forbidden"


async def test_test_webhook_and_logs(client: AsyncHookline, receiver: Receiver) -> None:
    result = await client.test_webhook(url=receiver.url, secret=SECRET)
    assert (result.success, result.status_code, result.response_body) == (True, 200, "ok")
    (request,) = await asyncio.to_thread(receiver.wait_for, 1)
    assert verify(SECRET, request.body, request.headers[SIGNATURE_HEADER])

    webhook = await client.create_webhook("hook", receiver.url, ["ReportPublished"])
    published = await client.publish("ReportPublished")
    (queued,) = (await client.deliveries(webhook_id=webhook.id)).items
    deadline = time.monotonic() + 10
    while (detail := await client.delivery(queued.id)).status != "succeeded":
        assert time.monotonic() < deadline, detail
        await asyncio.sleep(0.05)
    assert [log.event_id for log in detail.logs] == [published.id]
    logs = await client.webhook_logs(webhook.id)
    assert [log.id for log in logs] == [detail.logs[0].id]
    resent = await client.resend(queued.id)
    assert resent.trigger == "resend"
    assert resent.event_id == published.id
