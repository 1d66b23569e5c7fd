"""Opening the SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hookline.errors import StoreUnavailable
from hookline.store.sqlite import SqliteStore


async def test_an_sqlite_too_old_for_the_queries_is_refused_at_open_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    store = SqliteStore(tmp_path / "hookline.db")
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    assert caught.value.message == (
        "Hookline needs SQLite 3.35 or newer; this Python uses SQLite 3.34.1 "
        "(use a newer Python build, or PostgreSQL)"
    )
    assert list(tmp_path.iterdir()) == []  # nothing opened or created
    monkeypatch.undo()
    await store.open()  # the same store opens once SQLite is new enough
    await store.close()
