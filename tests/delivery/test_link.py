"""The engine over :mod:`hookline.delivery.link`: a real store answering through a real socket.

Both ends run in this test's event loop (the child process is tested end to end in
``tests/e2e/test_engine_process.py``); the frames, the pickling and the error mapping are real.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from tests.delivery.conftest import FakeResolver, Receiver
from tests.delivery.test_engine import SECRET, engine_settings, eventually

from hookline.delivery.link import QueueServer, RemoteError, RemoteQueue
from hookline.domain.deliveries import DeliveryStatus
from hookline.domain.tenants import Principal, Role
from hookline.domain.times import utcnow
from hookline.domain.webhooks import WebhookDraft
from hookline.errors import StoreUnavailable
from hookline.metrics import Metrics
from hookline.runtime import Services, build_services, make_engine, make_sender
from hookline.secretbox import SecretBox
from hookline.services.deliveries import DeliveryQuery
from hookline.services.events import EventInput
from hookline.signing import verify


@dataclass
class Linked:
    services: Services
    admin: Principal
    queue: RemoteQueue
    cut: Any  # closes the parent's end, as the parent's death would
    reported: list[bytes] = field(default_factory=list)
    lost: list[bool] = field(default_factory=list)


@pytest.fixture
async def linked(database_url: str) -> AsyncIterator[Linked]:
    services = await build_services(engine_settings(database_url), resolver=FakeResolver({}))
    await services.accounts.create_tenant("acme")
    issued = await services.accounts.create_key("acme", Role.ADMIN)
    admin = await services.accounts.authenticate(f"Bearer {issued.plaintext}")
    ours, theirs = socket.socketpair()
    server_reader, server_writer = await asyncio.open_unix_connection(sock=ours)
    client_reader, client_writer = await asyncio.open_unix_connection(sock=theirs)
    result = Linked(services, admin, None, server_writer.close)  # type: ignore[arg-type]
    server = QueueServer(services.store, result.reported.append)
    serving = asyncio.create_task(server.serve(server_reader, server_writer))
    result.queue = RemoteQueue(client_reader, client_writer, lambda: result.lost.append(True))
    result.queue.start()
    try:
        yield result
    finally:
        await result.queue.close()
        server_writer.close()
        await asyncio.wait_for(serving, 10)
        await services.close()


async def test_the_engine_delivers_retries_and_records_through_the_link(
    linked: Linked, receiver: Receiver
) -> None:
    services = linked.services
    draft = WebhookDraft(
        name="hook", url=receiver.url(), events=("ReportPublished",), secret=SECRET
    )
    await services.webhooks.create(linked.admin, draft)
    receiver.reply(500)  # the first attempt fails and is retried
    settings = services.settings
    sender = make_sender(settings, FakeResolver({}), limit=16)
    metrics = Metrics()
    engine = make_engine(settings, linked.queue, sender, SecretBox("s" * 40), metrics)
    running = asyncio.create_task(engine.run())
    try:
        await services.events.publish(linked.admin, EventInput("ReportPublished", None, {"n": 1}))
        await eventually(lambda: receiver.requests)
        receiver.reply(200)
        await eventually(lambda: len(receiver.requests) >= 2)

        async def succeeded() -> Any:
            query = DeliveryQuery(status=DeliveryStatus.SUCCEEDED)
            page = await services.deliveries.deliveries(linked.admin, query)
            return page.items

        (delivery,) = await eventually(succeeded)
        assert delivery.attempts == 2
        first, second = receiver.requests[:2]
        assert first.body == second.body
        assert verify(SECRET, second.body, second.headers["x-authorization-hmac-256"])
    finally:
        engine.stop()
        await asyncio.wait_for(running, 10)
        await sender.close()
    assert b'hookline_attempts_total{outcome="failure"} 1.0' in metrics.engine_families()


async def test_an_unavailable_store_is_unavailable_on_the_other_side(linked: Linked) -> None:
    await linked.services.store.close()
    with pytest.raises(StoreUnavailable):
        await linked.queue.claim_due(utcnow(), 10, utcnow() + timedelta(seconds=10), "t")


async def test_answers_come_back_in_kind(linked: Linked) -> None:
    now = utcnow()
    assert await linked.queue.next_due_at() is None
    assert await linked.queue.claim_due_skipping(now, 5, now, "t", ["wh_x"]) == []
    assert await linked.queue.wait_for_work(0.01) is False
    assert await linked.queue.purge(now - timedelta(days=1), now) == 0
    await linked.queue.push_metrics(b"# HELP x\n")
    assert linked.reported == [b"# HELP x\n"]


async def test_only_the_queue_calls_are_answered(linked: Linked) -> None:
    with pytest.raises(RemoteError, match="unknown call 'list_tenants'"):
        await linked.queue._call("list_tenants")
    assert await linked.services.store.list_tenants()  # still there, untouched


async def test_a_lost_parent_fails_waiting_calls_and_says_so_once(linked: Linked) -> None:
    waiting = asyncio.create_task(linked.queue.wait_for_work(30))
    await asyncio.sleep(0.05)
    linked.cut()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(waiting, 5)
    assert linked.lost == [True]
    with pytest.raises(StoreUnavailable):
        await linked.queue.next_due_at()


async def test_a_wait_given_up_does_not_take_the_next_wake_up(
    linked: Linked, receiver: Receiver
) -> None:
    draft = WebhookDraft(name="hook", url=receiver.url(), events=("ReportPublished",))
    await linked.services.webhooks.create(linked.admin, draft)
    given_up = asyncio.create_task(linked.queue.wait_for_work(5))
    await asyncio.sleep(0.05)
    given_up.cancel()  # as the engine does when a retry or a free slot wakes it first
    await asyncio.sleep(0.05)
    # New work while nobody waits: the next wait must see it at once, not sleep through it.
    event = EventInput("ReportPublished", None, {"n": 1})
    await linked.services.events.publish(linked.admin, event)
    assert await asyncio.wait_for(linked.queue.wait_for_work(5), 1) is True
