"""PostgreSQL-only queue behaviour: the LISTEN connection that wakes workers (lost, silently
dead, closed), and what a lost reply or a server-side rollback must not break."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from hookline.domain.deliveries import AttemptLog, Completion, DeliveryStatus, Trigger
from hookline.domain.events import NewEvent
from hookline.domain.tenants import Tenant
from hookline.domain.times import utcnow
from hookline.domain.webhooks import Webhook
from hookline.errors import StoreUnavailable
from hookline.ids import IdPrefix, new_id
from hookline.store import Store, pg_errors, pg_wakeup
from hookline.store.base import LogFilter
from hookline.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

LISTENERS = "SELECT pid FROM pg_stat_activity WHERE datname = ? AND query LIKE 'LISTEN %'"


@pytest.fixture
async def stores(postgres_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one fresh database: a worker's and a publisher's (two processes)."""
    worker, publisher = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await worker.open()
    await publisher.open()
    try:
        yield worker, publisher
    finally:
        await publisher.close()
        await worker.close()


async def webhook_target(store: Store) -> Tenant:
    """A tenant with one webhook for ReportPublished."""
    now = utcnow()
    tenant = Tenant(new_id(IdPrefix.TENANT), f"t-{secrets.token_hex(4)}", True, now)
    await store.insert_tenant(tenant)
    hook = Webhook(
        new_id(IdPrefix.WEBHOOK), tenant.id, "h", "https://hooks.example.com/in", (),
        ("ReportPublished",), None, True, True, now, now,
    )  # fmt: skip
    await store.insert_webhook(hook)
    return tenant


def event_for(tenant: Tenant) -> NewEvent:
    now = utcnow()
    event_id = new_id(IdPrefix.EVENT)
    return NewEvent(event_id, tenant.id, "ReportPublished", None, b'{"id":"x"}', now)


async def woken_by_publish(worker: Store, publisher: Store, tenant: Tenant) -> bool:
    """Whether a worker waiting (up to 0.5 s) wakes when another store publishes."""
    waiter = asyncio.create_task(worker.wait_for_work(0.5))
    await asyncio.sleep(0.05)
    await publisher.publish([event_for(tenant)], None, utcnow())
    return await asyncio.wait_for(waiter, 2)


async def test_a_lost_listener_degrades_to_polling_and_comes_back(
    stores: tuple[PostgresStore, PostgresStore],
    postgres_url: str,
    postgres_admin_url: str,
    raw_sql,
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker, publisher = stores
    admin, database = raw_sql(postgres_admin_url), urlsplit(postgres_url).path.lstrip("/")
    tenant = await webhook_target(publisher)
    assert await worker.wait_for_work(0.2) is False  # now listening
    [(pid,)] = await admin.fetch(LISTENERS, database)

    # The listening session dies, and the database refuses new sessions for a while.
    await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
    try:
        await admin.execute("SELECT pg_terminate_backend(?)", pid)
        loop = asyncio.get_running_loop()
        with caplog.at_level(logging.WARNING, logger="hookline.store"):
            for _ in range(2):  # never raises; ends after max_wait, like a poll
                started = loop.time()
                assert await worker.wait_for_work(0.2) is False
                assert loop.time() - started < 1.0
            # Work published meanwhile is found by the next poll; nobody is woken.
            assert await woken_by_publish(worker, publisher, tenant) is False
        assert "cannot listen for new work" in caplog.text
        assert await admin.fetch(LISTENERS, database) == []
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')

    assert await worker.wait_for_work(0.3) is False  # connects again
    [(new_pid,)] = await admin.fetch(LISTENERS, database)
    assert new_pid != pid
    assert await woken_by_publish(worker, publisher, tenant) is True


async def test_close_stops_listening(
    stores: tuple[PostgresStore, PostgresStore], postgres_url: str, raw_sql
) -> None:
    worker, publisher = stores
    raw, database = raw_sql(postgres_url), urlsplit(postgres_url).path.lstrip("/")
    tenant = await webhook_target(publisher)
    waiter = asyncio.create_task(worker.wait_for_work(0.3))  # opens the listener meanwhile
    await asyncio.sleep(0.1)
    assert len(await raw.fetch(LISTENERS, database)) == 1
    await worker.close()
    await worker.close()  # twice is fine
    assert await waiter is False
    assert await raw.fetch(LISTENERS, database) == []
    # A closed store's wait only sleeps, and opens nothing.
    await publisher.publish([event_for(tenant)], None, utcnow() - timedelta(seconds=1))
    assert await worker.wait_for_work(0.05) is False
    assert await raw.fetch(LISTENERS, database) == []


class FlowDroppingProxy:
    """A TCP proxy to PostgreSQL that can silently drop the flows it carries, as a NAT or a
    firewall forgetting idle connections does: bytes vanish, nobody is told, sockets stay open.
    New connections after the drop pass normally."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dropped: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def drop_existing_flows(self) -> None:
        self._dropped |= self._writers

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._target)
        self._writers |= {client_w, server_w}
        for reader, writer, source in (
            (client_r, server_w, client_w),
            (server_r, client_w, server_w),
        ):
            task = asyncio.create_task(self._pipe(reader, writer, source))
            self._tasks.add(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: asyncio.StreamWriter,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if source not in self._dropped:
                    writer.write(data)
                    await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


async def test_a_listener_that_silently_stops_answering_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pg_wakeup, "CHECK_EVERY", 0.0)
    monkeypatch.setattr(pg_wakeup, "CHECK_TIMEOUT", 0.2)
    parts = urlsplit(postgres_url)
    proxy = FlowDroppingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    user_info = parts.netloc.rpartition("@")[0]
    proxied = urlunsplit(parts._replace(netloc=f"{user_info}@127.0.0.1:{port}".lstrip("@")))
    worker, publisher = PostgresStore(proxied), PostgresStore(postgres_url)
    await worker.open()
    await publisher.open()
    try:
        tenant = await webhook_target(publisher)
        assert await worker.wait_for_work(0.2) is False  # listening, through the proxy
        assert await woken_by_publish(worker, publisher, tenant) is True

        proxy.drop_existing_flows()
        with caplog.at_level(logging.WARNING, logger="hookline.store"):
            assert await worker.wait_for_work(0.1) is False  # a check starts, unanswered
            assert await worker.wait_for_work(0.4) is False  # ... and gives up on the flow
        assert "does not answer" in caplog.text
        assert await worker.wait_for_work(0.2) is False  # connects again
        assert await woken_by_publish(worker, publisher, tenant) is True
    finally:
        await proxy.stop()
        await worker.close()
        await publisher.close()


@pytest.mark.parametrize(
    "error",
    [asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError],
)
def test_a_transaction_rolled_back_by_the_server_is_unavailable_not_a_crash(
    error: type[asyncpg.PostgresError],
) -> None:
    # The engine keeps outcomes it could not record and tries again on StoreUnavailable.
    translating = pg_errors.translated("cannot reach PostgreSQL at h/db", conflict="", secret="pw")
    with pytest.raises(StoreUnavailable) as caught, translating:
        raise error("deadlock detected: pw")
    assert caught.value.message == "PostgreSQL rolled the transaction back: deadlock detected: ***"


async def test_a_batch_of_outcomes_sent_twice_is_applied_once(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    # The engine sends a batch again when the store was unavailable, which on PostgreSQL
    # includes "the connection died after COMMIT": the second time must be harmless.
    store = stores[0]
    tenant = await webhook_target(store)
    now = utcnow()
    await store.publish([event_for(tenant)], None, now)
    [claimed] = await store.claim_due(now, 10, now + timedelta(seconds=30), "tok")
    log = AttemptLog(
        new_id(IdPrefix.LOG), tenant.id, claimed.id, claimed.webhook_id, claimed.event_id,
        claimed.event, None, 1, Trigger.EVENT, claimed.url, {}, "{}", 200, {}, "", 5, True,
        None, now,
    )  # fmt: skip
    done = Completion(claimed.id, "tok", DeliveryStatus.SUCCEEDED, 1, None, 200, None, log)
    assert await store.complete([done], now) == 1
    assert await store.complete([done], now) == 0
    assert await store.list_logs(tenant.id, LogFilter()) == [log]
