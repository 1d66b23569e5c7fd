"""Opening the SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hookline.errors import StoreUnavailable
from hookline.store.sqlite import PAGE_SIZE, SqliteStore


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


async def test_a_new_file_gets_16_kib_pages_and_an_existing_file_keeps_its_own(
    tmp_path: Path,
) -> None:
    new = SqliteStore(tmp_path / "new.db")
    await new.open()
    await new.migrate()
    await new.close()
    # A file made before (SQLite's default of 4 KiB): the setting cannot change it, and the
    # store opens and migrates it as it is.
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE kept (x)")
    conn.close()
    old = SqliteStore(old_path)
    await old.open()
    applied = await old.migrate()
    await old.close()
    assert applied  # the migrations ran on the 4 KiB file
    for path, size in [(tmp_path / "new.db", PAGE_SIZE), (old_path, 4096)]:
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA page_size").fetchone() == (size,)
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            conn.close()
    assert PAGE_SIZE == 16384
