"""PostgreSQL-only behaviour: connection failures, error translation, JSONB storage."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import asyncpg
import pytest

from hookline.domain.tenants import Tenant
from hookline.domain.times import utcnow
from hookline.domain.webhooks import Webhook
from hookline.errors import StoreUnavailable
from hookline.ids import IdPrefix, new_id
from hookline.store import open_store
from hookline.store import postgres as pg
from hookline.store.postgres import PostgresStore


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and then never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://hookline:s3cr3t-pw@127.0.0.1:{port}/hookline",
        "postgres://hookline:s3cr3t-pw@127.0.0.1:{port}/hookline",
    ],
)
async def test_unreachable_server_is_one_line_without_password(dsn: str) -> None:
    store = PostgresStore(dsn.format(port=closed_port()))
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    message = caught.value.message
    assert message.startswith("cannot reach PostgreSQL at 127.0.0.1:")
    assert message.endswith("/hookline: connection refused")
    assert "s3cr3t-pw" not in message
    assert "\n" not in message
    await store.close()  # closing a store that never opened is fine


async def test_malformed_dsn_is_unavailable_not_a_crash() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await PostgresStore("postgresql://u:s3cr3t-pw@127.0.0.1:notaport/db").open()
    assert "s3cr3t-pw" not in caught.value.message
    assert "\n" not in caught.value.message


async def test_silent_server_times_out(silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "CONNECT_TIMEOUT", 0.3)
    store = PostgresStore(f"postgresql://u:s3cr3t-pw@127.0.0.1:{silent_port}/db")
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    assert caught.value.message == (
        f"cannot reach PostgreSQL at 127.0.0.1:{silent_port}/db: timed out"
    )


async def test_store_that_is_not_open_is_unavailable() -> None:
    store = PostgresStore("postgresql://u@127.0.0.1:1/db")
    with pytest.raises(StoreUnavailable):
        await store.ping()


@pytest.mark.postgres
async def test_postgres_scheme_alias_is_accepted(postgres_url: str) -> None:
    store = open_store(postgres_url.replace("postgresql://", "postgres://", 1))
    await store.open()
    try:
        await store.ping()
    finally:
        await store.close()
        await store.close()


@pytest.mark.postgres
async def test_bad_credentials_are_unavailable(postgres_url: str) -> None:
    store = PostgresStore(postgres_url.replace("postgresql://postgres@", "postgresql://nobody:pw@"))
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    assert "nobody" in caught.value.message
    assert ":pw" not in caught.value.message


@pytest.mark.postgres
async def test_lost_database_is_unavailable(postgres_admin_url: str, postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        await store.ping()
        database = postgres_url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(postgres_admin_url)
        try:
            await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        finally:
            await admin.close()
        with pytest.raises(StoreUnavailable) as caught:
            await store.ping()
        assert caught.value.message.startswith("cannot reach PostgreSQL at ")
    finally:
        await store.close()


@pytest.mark.postgres
async def test_json_columns_are_real_jsonb_arrays(postgres_url: str, raw_sql) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        tenant = Tenant(new_id(IdPrefix.TENANT), "t", True, utcnow())
        await store.insert_tenant(tenant)
        now = utcnow()
        webhook = Webhook(
            new_id(IdPrefix.WEBHOOK),
            tenant.id,
            "w",
            "https://example.com/h",
            ("c1",),
            ("ReportPublished",),
            None,
            True,
            True,
            now,
            now,
        )
        await store.insert_webhook(webhook)
    finally:
        await store.close()
    rows = await raw_sql(postgres_url).fetch(
        "SELECT jsonb_typeof(events), jsonb_typeof(client_cuids), events ->> 0 FROM webhooks"
    )
    assert rows == [("array", "array", "ReportPublished")]


@pytest.mark.postgres
async def test_connections_killed_by_a_restart_are_unavailable_not_bugs(
    postgres_admin_url: str, postgres_url: str
) -> None:
    # Found by the chaos suite: after a server restart, giving a dead connection back to the
    # pool raised asyncpg's own error outside the translation, so the API answered 500 and the
    # engine logged tracebacks instead of "database unavailable".
    store = PostgresStore(postgres_url)
    await store.open()
    database = postgres_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        for _ in range(3):
            await store.ping()
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
            outcomes = []
            for _ in range(4):  # every pooled connection is dead; new ones are fine
                try:
                    await store.next_due_at()
                    outcomes.append("ok")
                except StoreUnavailable:
                    outcomes.append("unavailable")
            assert outcomes[-1] == "ok"
            assert set(outcomes) <= {"ok", "unavailable"}
    finally:
        await admin.close()
        await store.close()
