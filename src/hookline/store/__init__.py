"""Storage: the one place that knows there are two backends."""

from __future__ import annotations

from hookline.errors import ConfigError
from hookline.store.base import Store, WebhookFilter

__all__ = ["Store", "WebhookFilter", "open_store"]


def open_store(database_url: str) -> Store:
    """The store for a database URL (not yet connected: call ``await store.open()``)."""
    if database_url.startswith("sqlite:///"):
        from hookline.store.sqlite import SqliteStore

        return SqliteStore(database_url.removeprefix("sqlite:///"))
    if database_url.startswith(("postgresql://", "postgres://")):
        from hookline.store.postgres import PostgresStore

        return PostgresStore(database_url)
    raise ConfigError("HOOKLINE_DATABASE_URL must start with sqlite:/// or postgresql://")
