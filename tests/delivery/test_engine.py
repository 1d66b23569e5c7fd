"""The engine end to end in one process: real store (both backends), real loopback receivers,
real sender; only DNS answers are faked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from ipaddress import ip_network
from typing import Any

import pytest
from tests.delivery.conftest import Canaries, FakeResolver, Receiver, Receivers

from hookline.config import Settings
from hookline.delivery.pressure import PublishPressure
from hookline.domain.deliveries import DeliveryStatus, Trigger
from hookline.domain.tenants import Principal, Role
from hookline.domain.times import utcnow
from hookline.domain.webhooks import WebhookChanges, WebhookDraft
from hookline.errors import StoreUnavailable
from hookline.runtime import Services, build_services
from hookline.services.deliveries import DeliveryQuery, LogQuery
from hookline.services.events import EventInput
from hookline.signing import verify

SECRET = "engine-test-secret"


@dataclass
class Hookline:
    services: Services
    admin: Principal
    resolver: FakeResolver

    async def webhook(self, url: str, **fields: Any) -> str:
        draft = WebhookDraft(
            name=fields.pop("name", "hook"),
            url=url,
            events=tuple(fields.pop("events", ("ReportPublished",))),
            client_cuids=tuple(fields.pop("client_cuids", ())),
            secret=fields.pop("secret", SECRET),
        )
        return (await self.services.webhooks.create(self.admin, draft)).id

    async def publish(self, event: str = "ReportPublished", **fields: Any) -> str:
        item = EventInput(event, fields.get("client_cuid"), fields.get("data", {"n": 1}))
        published = await self.services.events.publish(self.admin, item)
        return published.results[0].event_id

    async def deliveries(self, **filters: Any) -> list[Any]:
        page = await self.services.deliveries.deliveries(self.admin, DeliveryQuery(**filters))
        return page.items


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def engine_settings(database_url: str) -> Settings:
    """Short timings: a 1 s timeout, 2 retries 50 ms apart at first, 16 in flight."""
    return Settings(
        database_url=database_url,
        secret_key="s" * 40,
        allowed_networks=(ip_network("127.0.0.1/32"),),
        delivery_timeout=1.0,
        max_retries=2,
        retry_base_delay=0.05,
        retry_max_delay=2.0,
        worker_concurrency=16,
    )


@pytest.fixture
async def hookline(database_url: str, tmp_path: Any) -> AsyncIterator[Hookline]:
    settings = engine_settings(database_url)
    resolver = FakeResolver({"receiver.test": ["127.0.0.1"]})
    services = await build_services(settings, resolver=resolver)
    await services.accounts.create_tenant("acme")
    issued = await services.accounts.create_key("acme", Role.ADMIN)
    admin = await services.accounts.authenticate(f"Bearer {issued.plaintext}")
    engine = asyncio.create_task(services.engine.run())
    try:
        yield Hookline(services, admin, resolver)
    finally:
        services.engine.stop()
        await asyncio.wait_for(engine, 10)
        await services.close()


async def test_body_headers_and_signature(hookline: Hookline, receiver: Receiver) -> None:
    webhook_id = await hookline.webhook(receiver.url())
    event_id = await hookline.publish(client_cuid="c1", data={"title": "Résumé", "score": 9.5})
    await eventually(lambda: receiver.requests)
    got = receiver.requests[0]
    payload = json.loads(got.body)
    assert payload == {
        "id": event_id,
        "event": "ReportPublished",
        "createdAt": payload["createdAt"],
        "clientCuid": "c1",
        "data": {"title": "Résumé", "score": 9.5},
    }
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("Hookline/")
    assert got.headers["x-hookline-event"] == "ReportPublished"
    assert got.headers["x-hookline-webhook"] == webhook_id
    assert got.headers["x-hookline-attempt"] == "1"
    assert got.headers["x-hookline-delivery"].startswith("dlv_")
    signature = got.headers["x-authorization-hmac-256"]
    assert verify(SECRET, got.body, signature)
    # Receivers that re-serialise the parsed payload get the same bytes.
    again = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert again == got.body
    assert "Résumé".encode() in got.body  # non-ASCII is not escaped

    async def logged() -> Any:
        return (await hookline.services.deliveries.logs(hookline.admin, LogQuery())).items

    [log] = await eventually(logged)
    assert log.request_body == got.body.decode()  # the log keeps the bytes sent


async def test_plextrac_python_recipe_on_ascii_payload(
    hookline: Hookline, receiver: Receiver
) -> None:
    await hookline.webhook(receiver.url())
    await hookline.publish(data={"reportId": "r-1", "count": 3})
    await eventually(lambda: receiver.requests)
    got = receiver.requests[0]
    recipe = json.dumps(json.loads(got.body), separators=(",", ":")).encode()
    assert verify(SECRET, recipe, got.headers["x-authorization-hmac-256"])


async def test_unsigned_webhook_has_no_signature(hookline: Hookline, receiver: Receiver) -> None:
    await hookline.webhook(receiver.url(), secret=None)
    await hookline.publish()
    await eventually(lambda: receiver.requests)
    assert "x-authorization-hmac-256" not in receiver.requests[0].headers


async def test_500_is_retried_exactly_max_retries_times(
    hookline: Hookline, receiver: Receiver
) -> None:
    receiver.reply(500, b"boom")
    webhook_id = await hookline.webhook(receiver.url())
    await hookline.publish()
    (delivery,) = await eventually(
        lambda: hookline.deliveries(status=DeliveryStatus.FAILED), timeout=15
    )
    assert delivery.attempts == 3
    assert len(receiver.requests) == 3
    assert [r.headers["x-hookline-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r.headers["x-hookline-delivery"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    logs = (
        await hookline.services.deliveries.logs(hookline.admin, LogQuery(webhook_id=webhook_id))
    ).items
    assert [log.attempt for log in logs] == [3, 2, 1]  # newest first
    assert all(log.error == "Failed to call webhook: HTTP 500" for log in logs)
    assert all(log.status_code == 500 and not log.success for log in logs)
    assert logs[0].response_body == "boom"


async def test_410_is_final_at_once(hookline: Hookline, receiver: Receiver) -> None:
    receiver.reply(410)
    await hookline.webhook(receiver.url())
    await hookline.publish()
    (delivery,) = await eventually(lambda: hookline.deliveries(status=DeliveryStatus.FAILED))
    assert delivery.attempts == 1
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 1


async def test_retry_after_is_honoured(hookline: Hookline, receiver: Receiver) -> None:
    receiver.reply(429, headers={"Retry-After": "1"})
    await hookline.webhook(receiver.url())
    started = time.monotonic()
    await hookline.publish()
    await eventually(lambda: len(receiver.requests) >= 2, timeout=10)
    assert time.monotonic() - started >= 0.95  # not the 0.05 s backoff


async def test_timeout_and_connection_refused_and_redirect(
    hookline: Hookline, receivers: Receivers
) -> None:
    slow = await receivers.start()
    slow.reply(200, stall=5)
    redirect = await receivers.start()
    target = await receivers.start()
    redirect.reply(302, headers={"Location": target.url("/elsewhere")})
    await hookline.webhook(slow.url(), name="slow")
    await hookline.webhook(redirect.url(), name="redirect")
    await hookline.webhook("http://127.0.0.1:9/closed", name="closed")
    await hookline.publish()
    await eventually(
        lambda: hookline.deliveries(status=DeliveryStatus.PENDING),
    )
    logs = await eventually(
        lambda: _logs_if(hookline, 3),
        timeout=10,
    )
    errors = [log.error or f"success from {log.url}" for log in logs]
    assert any(e == "Failed to call webhook: timed out after 1.0s" for e in errors), errors
    assert any("connection refused" in e for e in errors), errors
    assert any("HTTP 302" in e for e in errors), errors
    assert target.requests == []


async def _logs_if(hookline: Hookline, count: int) -> list[Any] | None:
    page = await hookline.services.deliveries.logs(hookline.admin, LogQuery(limit=50))
    first = {}
    for log in page.items:
        first.setdefault(log.webhook_id, log)
    return list(first.values()) if len(first) >= count else None


async def test_hanging_endpoint_does_not_delay_healthy_one(
    hookline: Hookline, receivers: Receivers
) -> None:
    hanging = await receivers.start()
    hanging.reply(200, stall=5)
    healthy = await receivers.start()
    await hookline.webhook(hanging.url(), name="hanging")
    for _ in range(20):
        await hookline.publish()
    await eventually(lambda: len(hanging.requests) >= 4)
    await hookline.webhook(healthy.url(), name="healthy")
    started = time.monotonic()
    for _ in range(5):
        await hookline.publish()
    await eventually(lambda: len(healthy.requests) >= 5, timeout=5)
    # All five arrived well before the hanging endpoint's first timeout (1 s) freed anything.
    assert time.monotonic() - started < 0.9
    assert len(hanging.requests) <= 16


async def test_endpoints_that_hang_cannot_starve_a_healthy_one_of_slots(
    hookline: Hookline, receivers: Receivers
) -> None:
    """Two hanging endpoints with 8 slots each fill the global cap (16); once their attempts
    time out they are held to one slot each, and a healthy endpoint gets the rest."""
    hanging = [await receivers.start() for _ in range(2)]
    for i, receiver in enumerate(hanging):
        receiver.reply(200, stall=60)  # never answers while the test runs (timeout: 1 s)
        await hookline.webhook(receiver.url(), name=f"hanging-{i}")
    for _ in range(20):
        await hookline.publish()
    await eventually(lambda: sum(len(r.requests) for r in hanging) >= 16)
    slots = hookline.services.engine._slots
    await eventually(lambda: all(slots.is_stalled(r.url()) for r in hanging))
    healthy = await receivers.start()
    await hookline.webhook(healthy.url(), name="healthy", events=["AssessmentSubmitted"])
    for _ in range(30):
        await hookline.publish("AssessmentSubmitted")
    await eventually(lambda: len(healthy.requests) >= 30)
    # The hanging endpoints still hang (and are still retried), each on one slot at most.
    await eventually(lambda: slots.in_flight <= 2)
    assert all(slots.is_stalled(r.url()) for r in hanging)
    assert not slots.is_stalled(healthy.url())


async def test_client_scoping(hookline: Hookline, receivers: Receivers) -> None:
    everyone = await receivers.start()
    only_c1 = await receivers.start()
    await hookline.webhook(everyone.url(), name="all")
    await hookline.webhook(only_c1.url(), name="c1", client_cuids=["c1"])
    await hookline.publish(client_cuid="c1")
    await hookline.publish(client_cuid="c2")
    await hookline.publish(client_cuid=None)
    await eventually(lambda: len(everyone.requests) == 3)
    await asyncio.sleep(0.2)
    assert [json.loads(r.body)["clientCuid"] for r in only_c1.requests] == ["c1"]


async def test_connect_time_ssrf_with_rebinding_resolver(
    hookline: Hookline, receiver: Receiver, canaries: Canaries
) -> None:
    canary = await canaries.start("127.0.0.2")
    hookline.resolver.answers["flip.test"] = ["127.0.0.1"]
    url = f"http://flip.test:{canary.port}/hook"
    await hookline.webhook(url)  # vetted at create time: 127.0.0.1 is allowed
    hookline.resolver.answers["flip.test"] = ["127.0.0.2"]  # rebinding
    await hookline.publish()
    (delivery,) = await eventually(lambda: hookline.deliveries(status=DeliveryStatus.FAILED))
    assert delivery.attempts == 1  # refused destinations are not retried
    assert "destination 127.0.0.2 is not allowed" in (delivery.last_error or "")
    assert delivery.last_error.startswith("Failed to call webhook:")
    assert canary.connections == 0


async def test_disable_cancels_pending_and_resend_delivers(
    hookline: Hookline, receiver: Receiver
) -> None:
    receiver.reply(500)
    hookline.services.engine._policy = type(hookline.services.engine._policy)(5, 30.0, 60.0)
    webhook_id = await hookline.webhook(receiver.url())
    await hookline.publish()
    (pending,) = await eventually(lambda: hookline.deliveries(status=DeliveryStatus.PENDING))
    await eventually(lambda: receiver.requests)
    await hookline.services.webhooks.update(
        hookline.admin, webhook_id, WebhookChanges(enabled=False)
    )
    (cancelled,) = await eventually(lambda: hookline.deliveries(status=DeliveryStatus.CANCELLED))
    assert cancelled.id == pending.id
    await hookline.services.webhooks.update(
        hookline.admin, webhook_id, WebhookChanges(enabled=True)
    )
    receiver.reply(200)
    resent = await hookline.services.deliveries.resend(hookline.admin, cancelled.id)
    assert resent.trigger is Trigger.RESEND
    done = await eventually(lambda: hookline.deliveries(status=DeliveryStatus.SUCCEEDED))
    assert [d.id for d in done] == [resent.id]
    delivery, logs = await hookline.services.deliveries.delivery(hookline.admin, resent.id)
    assert delivery.status is DeliveryStatus.SUCCEEDED
    assert [(log.attempt, log.trigger) for log in logs] == [(1, Trigger.RESEND)]


async def test_sub_second_retries_do_not_wait_for_the_poll(
    hookline: Hookline, receiver: Receiver
) -> None:
    receiver.reply(500)
    await hookline.webhook(receiver.url())
    started = time.monotonic()
    await hookline.publish()
    await eventually(lambda: hookline.deliveries(status=DeliveryStatus.FAILED), timeout=10)
    # Three attempts 0.05 s and 0.2 s apart (+-20%): far less than one 1 s poll per retry.
    assert time.monotonic() - started < 0.9
    assert len(receiver.requests) == 3


async def test_an_endpoint_unblocked_during_a_claim_is_claimed_again_at_once(
    hookline: Hookline, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the benchmark: an endpoint's full waiting line makes claims skip its webhook;
    # when the line drained while such a claim ran, the wake-up was cleared as the empty claim
    # came back, and the engine sat out the poll interval with nothing in flight.
    engine, store = hookline.services.engine, hookline.services.store
    monkeypatch.setattr(engine, "_config", replace(engine._config, poll_interval=60.0))
    real_claim = store.claim_due_skipping
    slow_claims = [0]

    async def slow_claim(
        now: Any, limit: int, lease_until: Any, token: str, skip: Sequence[str]
    ) -> Any:
        if skip:
            slow_claims[0] += 1
            await asyncio.sleep(0.3)  # the full line (8 slots, 32 waiting) drains meanwhile
        return await real_claim(now, limit, lease_until, token, skip)

    monkeypatch.setattr(store, "claim_due_skipping", slow_claim)
    receiver.reply(stall=0.05)  # 8 slots: 160 deliveries/s, so the line fills
    await hookline.webhook(receiver.url())
    items = [EventInput("ReportPublished", None, {"n": n}) for n in range(200)]
    await hookline.services.events.publish_batch(hookline.admin, items)
    done = await eventually(
        lambda: _when_all(hookline.deliveries(status=DeliveryStatus.SUCCEEDED, limit=200), 200),
        timeout=20,
    )
    assert len(done) == 200
    assert slow_claims[0] > 0  # the line did fill, and a claim skipped its webhook
    assert len(receiver.requests) == 200


async def test_a_freed_slot_goes_to_the_next_waiting_delivery_in_the_same_task(
    hookline: Hookline, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 8 slots for the one endpoint: most of the 60 deliveries wait in its line, and each
    # attempt that ends goes on with the next one rather than starting a task for it.
    engine = hookline.services.engine
    launched = [0]
    real_launch = engine._launch

    def counting_launch(delivery: Any, endpoint: str) -> None:
        launched[0] += 1
        real_launch(delivery, endpoint)

    monkeypatch.setattr(engine, "_launch", counting_launch)
    receiver.reply(stall=0.02)
    await hookline.webhook(receiver.url())
    items = [EventInput("ReportPublished", None, {"n": n}) for n in range(60)]
    await hookline.services.events.publish_batch(hookline.admin, items)
    done = await eventually(
        lambda: _when_all(hookline.deliveries(status=DeliveryStatus.SUCCEEDED, limit=100), 60)
    )
    assert len(done) == 60
    sent = [r.headers["x-hookline-delivery"] for r in receiver.requests]
    assert sorted(sent) == sorted(d.id for d in done)  # each once
    assert launched[0] < 30  # (one task per attempt would be 60)
    await eventually(lambda: engine._slots.in_flight == 0 and not engine._tasks)


async def test_while_publishers_press_the_engine_claims_a_share_of_what_they_publish(
    hookline: Hookline, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine gives way to this process's publishers: one delivery claimed per 2 publishes
    # answered while they press, at full speed again once they stop.
    engine = hookline.services.engine
    now = [1000.0]
    pressure = PublishPressure(pressing=1, share=2, hold=0.02, clock=lambda: now[0])
    monkeypatch.setattr(engine, "_pressure", pressure)
    pressure.begin()  # pressing from here on: its clock stands still
    await hookline.webhook(receiver.url())
    items = [EventInput("ReportPublished", None, {"n": n}) for n in range(40)]
    await hookline.services.events.publish_batch(hookline.admin, items)
    # 16 slots: the first claim takes 16 (8 sent at once, 8 waiting for the endpoint) ...
    await eventually(lambda: len(receiver.requests) == 16)
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 16  # ... and the next waits for 32 publishes answered
    for _ in range(31):
        pressure.begin()
        pressure.end(stored=True)
    await asyncio.sleep(0.2)
    assert len(receiver.requests) == 16
    pressure.begin()
    pressure.end(stored=True)
    await eventually(lambda: len(receiver.requests) == 32)
    await asyncio.sleep(0.2)
    assert len(receiver.requests) == 32
    now[0] += 1  # the publishers stopped pressing a second ago: the rest goes at once
    done = await eventually(
        lambda: _when_all(hookline.deliveries(status=DeliveryStatus.SUCCEEDED, limit=100), 40)
    )
    assert len(done) == 40
    assert len(receiver.requests) == 40


async def test_a_cancelled_attempt_hands_the_freed_slot_to_a_task_of_its_own(
    hookline: Hookline, receiver: Receiver
) -> None:
    engine = hookline.services.engine
    receiver.reply(stall=0.3)
    await hookline.webhook(receiver.url())
    items = [EventInput("ReportPublished", None, {"n": n}) for n in range(12)]
    await hookline.services.events.publish_batch(hookline.admin, items)
    await eventually(lambda: len(receiver.requests) == 8)  # the endpoint's 8 slots; 4 wait
    assert engine._slots.waiting == 4
    next(iter(engine._tasks)).cancel()
    # The 4 waiting ones are all sent (one of them on the cancelled attempt's slot), and
    # every slot comes back: nothing is left holding a slot it will never give back.
    await eventually(
        lambda: len({r.headers["x-hookline-delivery"] for r in receiver.requests}) == 12, timeout=3
    )
    await eventually(lambda: engine._slots.in_flight == 0, timeout=3)
    assert engine._slots.waiting == 0


async def test_nul_bytes_in_an_answer_are_logged_and_do_not_sink_other_outcomes(
    hookline: Hookline, receivers: Receivers
) -> None:
    # PostgreSQL cannot store U+0000 in TEXT or JSONB: before the fix one such answer failed
    # the whole completion batch and killed the completer, and everything was sent again.
    odd, plain = await receivers.start(), await receivers.start()
    odd.reply(200, body=b"ok\x00then more")
    await hookline.webhook(odd.url())
    await hookline.webhook(plain.url())
    for n in range(20):
        await hookline.publish(data={"n": n})
    done = await eventually(
        lambda: _when_all(hookline.deliveries(status=DeliveryStatus.SUCCEEDED, limit=100), 40)
    )
    assert len(done) == 40
    assert len(odd.requests) == 20  # nothing sent twice
    assert len(plain.requests) == 20
    logs = await hookline.services.deliveries.logs(hookline.admin, LogQuery(limit=100))
    odd_logs = [log for log in logs.items if log.url == odd.url()]
    assert len(odd_logs) == 20
    assert {log.response_body for log in odd_logs} == {"ok\ufffdthen more"}


async def test_unexpected_store_errors_do_not_stop_delivery(
    hookline: Hookline, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug or an unforeseen database error in a claim or a completion: the engine logs it and
    # goes on (before the fix, one such error ended the claim loop while the API kept
    # accepting events).
    store = hookline.services.store
    failures = {"claim_due": 2, "complete": 1}

    def flaky(name: str) -> Any:
        real = getattr(store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if failures[name] > 0:
                failures[name] -= 1
                raise RuntimeError(f"injected {name} failure")
            return await real(*args, **kwargs)

        return call

    for name in failures:
        monkeypatch.setattr(store, name, flaky(name))
    await hookline.webhook(receiver.url())
    await hookline.publish()
    done = await eventually(lambda: hookline.deliveries(status=DeliveryStatus.SUCCEEDED))
    assert len(done) == 1
    assert failures == {"claim_due": 0, "complete": 0}
    assert hookline.services.engine.running
    assert len(receiver.requests) == 1


async def test_a_claim_that_outlives_its_lease_is_given_back_not_sent(
    hookline: Hookline, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the chaos suite: the lease is computed before the claim, so a claim that waits
    # out a stalled store comes back with a lease already over; sending then raced the next
    # claim of the same rows and the receiver got each delivery twice with no crash. The stall
    # is simulated by moving the engine's clock past the lease while the first claim runs.
    engine, store = hookline.services.engine, hookline.services.store
    offset = [timedelta(0)]
    monkeypatch.setattr(engine, "_clock", lambda: utcnow() + offset[0])
    real_claim = store.claim_due
    stalls = [1]

    async def stalled_claim(*args: Any, **kwargs: Any) -> Any:
        claimed = await real_claim(*args, **kwargs)
        if claimed and stalls[0]:
            stalls[0] -= 1
            offset[0] = timedelta(seconds=60)  # the claim "took" a minute
        return claimed

    monkeypatch.setattr(store, "claim_due", stalled_claim)
    await hookline.webhook(receiver.url())
    for n in range(10):
        await hookline.publish(data={"n": n})
    done = await eventually(
        lambda: _when_all(hookline.deliveries(status=DeliveryStatus.SUCCEEDED, limit=100), 10)
    )
    assert stalls == [0]  # the stall happened
    assert len(done) == 10
    ids = [r.headers["x-hookline-delivery"] for r in receiver.requests]
    assert sorted(ids) == sorted(d.id for d in done)  # each sent once


async def test_outcomes_are_kept_when_the_store_goes_away_while_written_one_by_one(
    hookline: Hookline, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An outage that first shows as an unexpected error (a connection reset on release, say)
    # and then as StoreUnavailable: the outcome must wait for the store, not be dropped (a
    # dropped outcome means the delivery is sent again when its lease expires).
    store = hookline.services.store
    real_complete = store.complete
    errors: list[Exception] = [RuntimeError("connection reset"), StoreUnavailable()]

    async def failing_complete(*args: Any, **kwargs: Any) -> Any:
        if errors:
            raise errors.pop(0)
        return await real_complete(*args, **kwargs)

    monkeypatch.setattr(store, "complete", failing_complete)
    await hookline.webhook(receiver.url())
    await hookline.publish()
    done = await eventually(lambda: hookline.deliveries(status=DeliveryStatus.SUCCEEDED))
    assert errors == []
    assert done[0].attempts == 1
    assert len(receiver.requests) == 1


async def _when_all(items: Any, count: int) -> Any:
    found = await items
    return found if len(found) >= count else None
