"""Migrations: an empty database gets every one of them, once, on both dialects."""

from __future__ import annotations

import asyncio

import pytest

from hookline.store import Store, open_store
from hookline.store.sql import migrations

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest) -> str:
    """A database with no schema at all, once per backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


def dialect_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite:") else "postgres"


def names(dialect: str) -> list[str]:
    return [f"{m.version:04d}_{m.name}" for m in migrations(dialect)]


async def opened(url: str) -> Store:
    store = open_store(url)
    await store.open()
    return store


def test_each_dialect_has_the_same_migrations() -> None:
    assert names("sqlite") == names("postgres")
    assert names("postgres")[0] == "0001_initial"


async def test_empty_database_gets_every_migration(empty_url: str, raw_sql) -> None:
    dialect = dialect_of(empty_url)
    store = await opened(empty_url)
    try:
        assert await store.migrate() == names(dialect)
        assert await store.migrate() == []
        await store.ping()
    finally:
        await store.close()
    versions = await raw_sql(empty_url).migration_versions()
    assert versions == [m.version for m in migrations(dialect)]


async def test_migrated_store_reopens_without_migrating(empty_url: str) -> None:
    first = await opened(empty_url)
    try:
        assert await first.migrate() == names(dialect_of(empty_url))
    finally:
        await first.close()
    second = await opened(empty_url)
    try:
        assert await second.migrate() == []
        assert len(await second.list_event_types()) >= 3
    finally:
        await second.close()


@pytest.mark.postgres
async def test_concurrent_migrations_on_postgres_apply_once(
    empty_postgres_url: str, raw_sql
) -> None:
    stores = [await opened(empty_postgres_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(s.migrate() for s in stores))
    finally:
        for store in stores:
            await store.close()
    applied = [r for r in results if r]
    assert applied == [names("postgres")], results
    versions = await raw_sql(empty_postgres_url).migration_versions()
    assert versions == [m.version for m in migrations("postgres")]
