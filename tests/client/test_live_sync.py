"""``Hookline`` (sync) against a real ``hookline serve``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.client.conftest import Receiver, Server, free_port

from hookline.client import (
    AuthenticationError,
    EventIn,
    ForbiddenError,
    Hookline,
    HooklineError,
    NotFoundError,
    UrlNotAllowed,
    ValidationError,
)
from hookline.signing import SIGNATURE_HEADER, verify

SECRET = "sync-secret-0123"


@pytest.fixture
def client(live: Server) -> Iterator[Hookline]:
    with Hookline(live.url, live.admin_key, timeout=15) as hookline:
        yield hookline


def test_event_types_lists_the_catalogue(client: Hookline) -> None:
    names = {t.name: t for t in client.event_types()}
    assert {"ReportPublished", "AssessmentSubmitted", "EngagementRequested"} <= set(names)
    assert isinstance(names["ReportPublished"].description, str)


def test_publish_and_batch_count_deliveries(client: Hookline, receiver: Receiver) -> None:
    client.create_webhook("all", receiver.url, ["ReportPublished"])
    client.create_webhook("c1 only", receiver.url, ["ReportPublished"], client_cuids=["c1"])
    client.create_webhook("assessments", receiver.url, ["AssessmentSubmitted"])

    for_c1 = client.publish("ReportPublished", {"reportId": "r-1"}, client_cuid="c1")
    for_c2 = client.publish("ReportPublished", {"reportId": "r-2"}, client_cuid="c2")
    no_client = client.publish("ReportPublished")  # only the webhook for all clients
    nobody = client.publish("EngagementRequested")
    counts = (for_c1.deliveries, for_c2.deliveries, no_client.deliveries, nobody.deliveries)
    assert counts == (2, 1, 1, 0)
    assert not for_c1.replayed
    assert for_c1.id.startswith("evt_")
    assert for_c1.id != for_c2.id

    batch = client.publish_batch(
        [
            EventIn("ReportPublished", {"n": 1}, client_cuid="c1"),
            {"event": "AssessmentSubmitted", "client_cuid": "c9", "data": {"n": 2}},
            {"event": "ReportPublished", "clientCuid": "c2"},
        ]
    )
    assert [p.deliveries for p in batch] == [2, 1, 1]
    assert len({p.id for p in batch}) == 3
    assert not any(p.replayed for p in batch)

    sent = [json.loads(r.body) for r in receiver.wait_for(2 + 1 + 1 + 4)]
    first = next(body for body in sent if body["id"] == for_c1.id)
    assert first["data"] == {"reportId": "r-1"}
    assert first["clientCuid"] == "c1"


def test_batch_is_all_or_nothing(client: Hookline) -> None:
    webhook = client.create_webhook("all", "http://127.0.0.1:9/hook", ["ReportPublished"])
    with pytest.raises(ValidationError) as caught:
        client.publish_batch([EventIn("ReportPublished"), EventIn("NoSuchEvent")])
    assert caught.value.code == "validation_error"
    assert "events[1].event" in caught.value.field_errors()
    assert client.deliveries(webhook_id=webhook.id).items == ()
    client.publish_batch([EventIn("ReportPublished")])  # while a valid one is queued
    assert len(client.deliveries(webhook_id=webhook.id).items) == 1


def test_the_same_idempotency_key_publishes_once(client: Hookline) -> None:
    client.create_webhook("all", "http://127.0.0.1:9/hook", ["ReportPublished"])
    key = f"order-{uuid.uuid4()}"
    first = client.publish("ReportPublished", {"n": 1}, idempotency_key=key)
    again = client.publish("ReportPublished", {"n": 2}, idempotency_key=key)
    assert (again.id, again.deliveries) == (first.id, first.deliveries) == (first.id, 1)
    assert (first.replayed, again.replayed) == (False, True)
    assert len(client.deliveries(event_id=first.id).items) == 1

    # Without a key, every call gets its own: two calls, two events.
    one, two = client.publish("ReportPublished"), client.publish("ReportPublished")
    assert one.id != two.id
    assert not two.replayed

    batch_key = f"batch-{uuid.uuid4()}"
    events = [EventIn("ReportPublished"), EventIn("ReportPublished")]
    batch = client.publish_batch(events, idempotency_key=batch_key)
    replay = client.publish_batch(events, idempotency_key=batch_key)
    assert [p.id for p in replay] == [p.id for p in batch]
    assert all(p.replayed for p in replay)

    # Each publish route has its own keys: the batch's key publishes anew on /events.
    single = client.publish("ReportPublished", idempotency_key=batch_key)
    assert not single.replayed
    assert single.id not in {p.id for p in batch}


def test_webhook_crud_and_secret_removal(client: Hookline) -> None:
    created = client.create_webhook(
        "CRM", "http://127.0.0.1:9/crm", ["ReportPublished"], client_cuids=["c1"], secret=SECRET
    )
    assert created.id.startswith("wh_")
    assert (created.name, created.events, created.client_cuids) == (
        "CRM",
        ("ReportPublished",),
        ("c1",),
    )
    assert created.has_secret
    assert created.enabled
    assert created.ssl_verification
    assert created.created_at.tzinfo is not None
    assert abs(created.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert client.get_webhook(created.id) == created
    assert client.webhook_secret(created.id) == SECRET

    renamed = client.update_webhook(created.id, name="CRM 2")
    assert renamed.name == "CRM 2"
    assert renamed.has_secret
    assert renamed.client_cuids == ("c1",)

    changed = client.update_webhook(
        created.id, events=["AssessmentSubmitted", "ReportPublished"], enabled=False
    )
    assert changed.events == ("AssessmentSubmitted", "ReportPublished")
    assert not changed.enabled
    assert changed.has_secret

    unsigned = client.update_webhook(created.id, secret=None)
    assert not unsigned.has_secret
    assert client.webhook_secret(created.id) is None

    client.delete_webhook(created.id)
    with pytest.raises(NotFoundError):
        client.get_webhook(created.id)
    with pytest.raises(NotFoundError):
        client.delete_webhook(created.id)  # not a retry: a second delete is an error


def test_iter_webhooks_follows_the_cursor(live: Server) -> None:
    requests: list[httpx.Request] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return super().handle_request(request)

    with Hookline(live.url, live.admin_key, transport=Recording()) as client:
        ids = [
            client.create_webhook(f"w{i}", "http://127.0.0.1:9/", ["ReportPublished"]).id
            for i in range(5)
        ]
        client.update_webhook(ids[3], enabled=False)
        first = client.list_webhooks(limit=2)
        assert [w.id for w in first] == ids[:2]
        assert first.next_cursor is not None
        requests.clear()

        assert [w.id for w in client.iter_webhooks(limit=2)] == ids
        assert [r.url.params["limit"] for r in requests] == ["2", "2", "2"]
        assert "cursor" not in requests[0].url.params
        assert [w.id for w in client.iter_webhooks(enabled=False, limit=2)] == [ids[3]]
        assert client.list_webhooks(event="AssessmentSubmitted").items == ()


def test_typed_errors(live: Server, client: Hookline) -> None:
    with pytest.raises(UrlNotAllowed) as refused:
        client.create_webhook("x", "http://10.0.0.5/hook", ["ReportPublished"])
    error = refused.value
    assert isinstance(error, ValidationError)
    assert (error.code, error.status) == ("url_not_allowed", 400)
    assert "url" in error.field_errors()

    with pytest.raises(ValidationError) as invalid:
        client.create_webhook("x", "http://127.0.0.1:9/", [])
    assert invalid.value.code == "validation_error"
    assert "events" in invalid.value.field_errors()

    with pytest.raises(NotFoundError) as missing:
        client.get_webhook("wh_doesnotexist")
    assert (missing.value.code, missing.value.status) == ("not_found", 404)

    bad_key = "hk_not-a-real-key-secret-value"
    with Hookline(live.url, bad_key) as stranger, pytest.raises(AuthenticationError) as denied:
        stranger.list_webhooks()
    assert (denied.value.code, denied.value.status) == ("unauthorized", 401)
    assert bad_key not in str(denied.value) + repr(denied.value)

    with Hookline(live.url, live.viewer_key) as viewer:
        assert viewer.list_webhooks().items == ()  # a viewer reads
        with pytest.raises(ForbiddenError) as forbidden:
            viewer.create_webhook("x", "http://127.0.0.1:9/", ["ReportPublished"])
        assert (forbidden.value.code, forbidden.value.status) == ("forbidden", 403)
        with pytest.raises(ForbiddenError):
            viewer.webhook_secret("wh_whatever")

    with Hookline(live.url, live.publisher_key) as publisher:
        assert publisher.publish("ReportPublished").deliveries == 0
        with pytest.raises(ForbiddenError):
            publisher.list_webhooks()


def test_test_webhook_against_a_loopback_receiver(client: Hookline, receiver: Receiver) -> None:
    result = client.test_webhook(url=receiver.url, secret=SECRET, event="AssessmentSubmitted")
    assert result.success
    assert result.status_code == 200
    assert result.error is None
    assert result.response_body == "ok"
    assert result.log_id.startswith("log_")
    (request,) = receiver.wait_for(1)
    assert request.headers["X-Hookline-Event"] == "AssessmentSubmitted"
    assert verify(SECRET, request.body, request.headers[SIGNATURE_HEADER])

    webhook = client.create_webhook("hook", receiver.url, ["ReportPublished"], secret=SECRET)
    stored = client.test_webhook(webhook_id=webhook.id)
    assert stored.success
    logs = client.webhook_logs(webhook.id, trigger="test")
    assert [log.id for log in logs] == [stored.log_id]
    assert logs.items[0].trigger == "test"
    assert logs.items[0].status_code == 200
    assert stored.log_id in {log.id for log in client.logs(trigger="test", success=True)}

    dead = client.test_webhook(url=f"http://127.0.0.1:{free_port()}/gone")
    assert not dead.success
    assert dead.status_code is None
    assert dead.error is not None
    assert dead.error.startswith("Failed to call webhook:")

    with pytest.raises(UrlNotAllowed):
        client.test_webhook(url="http://169.254.169.254/latest")
    with pytest.raises(ValidationError):
        client.test_webhook(webhook_id=webhook.id, url=receiver.url)  # not both


def test_deliveries_logs_and_resend(client: Hookline, receiver: Receiver) -> None:
    webhook = client.create_webhook("hook", receiver.url, ["ReportPublished"])
    published = client.publish("ReportPublished", {"reportId": "r-9"}, client_cuid="c1")
    (queued,) = client.deliveries(event_id=published.id).items
    assert (queued.webhook_id, queued.event, queued.trigger) == (
        webhook.id,
        "ReportPublished",
        "event",
    )

    deadline = time.monotonic() + 10
    while (detail := client.delivery(queued.id)).status != "succeeded":
        assert time.monotonic() < deadline, detail
        time.sleep(0.05)
    assert detail.attempts == 1
    assert detail.last_status_code == 200
    (log,) = detail.logs
    assert (log.delivery_id, log.attempt, log.success, log.client_cuid) == (
        queued.id,
        1,
        True,
        "c1",
    )
    assert json.loads(log.request_body)["data"] == {"reportId": "r-9"}
    assert log.created_at.tzinfo is not None
    since = client.logs(event_id=published.id, since=log.created_at - timedelta(seconds=1))
    assert [entry.id for entry in since] == [log.id]
    assert client.logs(event_id=published.id, until=datetime(2000, 1, 1)).items == ()

    again = client.resend(queued.id)
    assert again.id != queued.id
    assert again.trigger == "resend"
    assert (again.event_id, again.webhook_id) == (published.id, webhook.id)
    assert len(client.deliveries(event_id=published.id, limit=10).items) == 2
    with pytest.raises(NotFoundError):
        client.delivery("dlv_nope")


def test_server_errors_never_show_the_key(live: Server) -> None:
    client = Hookline(live.url, live.admin_key)
    assert live.admin_key not in repr(client)
    client.close()
    nowhere = Hookline(f"http://127.0.0.1:{free_port()}", live.admin_key, retries=1, backoff=0)
    with nowhere, pytest.raises(HooklineError) as caught:
        nowhere.publish("ReportPublished")
    assert caught.value.code == "connection_failed"
    assert live.admin_key not in str(caught.value) + repr(caught.value)
