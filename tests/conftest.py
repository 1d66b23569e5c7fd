"""Fixtures shared by every test directory: databases for both stores.

PostgreSQL: one template database per test session (``hookline_tpl_<pid>``), migrated once;
each test gets a fresh copy (``CREATE DATABASE ... TEMPLATE``), dropped afterwards. The admin
URL comes from ``HOOKLINE_TEST_POSTGRES_URL``; when the server is unreachable the PostgreSQL
tests are skipped, or fail when ``HOOKLINE_REQUIRE_POSTGRES=1`` (CI sets it).

The admin plumbing runs on its own event loop in a helper thread, so it never meets the
loop pytest-asyncio gives each test; each test opens its own store (pools never cross loops).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from hookline.store import Store, open_store

T = TypeVar("T")

POSTGRES_URL_ENV = "HOOKLINE_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "HOOKLINE_REQUIRE_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private event loop in a helper thread."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database of the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def admin_execute(admin_url: str, *statements: str) -> None:
    """Run statements (CREATE/DROP DATABASE...) on the admin database, outside transactions."""
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    store = open_store(url)
    await store.open()
    try:
        await store.migrate()
    finally:
        await store.close()


def _drop(admin_url: str, database: str) -> None:
    run_sync(lambda: admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The admin URL of a reachable PostgreSQL server (else skip, or fail if required)."""
    url = os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL
    try:
        run_sync(lambda: admin_execute(url, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    else:
        return url
    # Outside the except block, so that the report is this one line and no driver traceback.
    message = (
        f"PostgreSQL not reachable at {redacted(url)} ({reason}); set {POSTGRES_URL_ENV} "
        f"({REQUIRE_POSTGRES_ENV}=1 makes this a failure)"
    )
    if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """Name of this session's migrated template database."""
    name = f"hookline_tpl_{os.getpid()}"
    _drop(postgres_admin_url, name)
    run_sync(lambda: admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"'))
    try:
        run_sync(lambda: _migrate(with_database(postgres_admin_url, name)))
        yield name
    finally:
        _drop(postgres_admin_url, name)


@pytest.fixture
def postgres_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database of this test's own."""
    name = f"hookline_t_{secrets.token_hex(6)}"
    create = f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'
    run_sync(lambda: admin_execute(postgres_admin_url, create))
    try:
        yield with_database(postgres_admin_url, name)
    finally:
        _drop(postgres_admin_url, name)


@pytest.fixture
def empty_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """URL of a fresh PostgreSQL database with no schema at all."""
    name = f"hookline_e_{secrets.token_hex(6)}"
    run_sync(lambda: admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(postgres_admin_url, name)
    finally:
        _drop(postgres_admin_url, name)


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """URL of an SQLite file in this test's temporary directory (created on open)."""
    return f"sqlite:///{tmp_path}/hookline.db"


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated-on-open database URL, once per backend (``sqlite``, ``postgres``)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """An opened and migrated store, once per backend; closed afterwards."""
    opened = open_store(database_url)
    await opened.open()
    try:
        await opened.migrate()
        yield opened
    finally:
        await opened.close()
