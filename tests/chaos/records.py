"""Durable JSON-lines journals: a record is on disk (fsync) before ``append`` returns.

Appends are group-committed: every record written since the last fsync waits for the next
one, so thousands of receipts a second cost a few fsyncs, not one each. Readers tolerate a
torn last line (a process killed mid-write), which is never a record that was acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any


class Journal:
    """An append-only file of JSON objects, one a line, fsynced before ``append`` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("ab")
        self._waiting: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        self._file.write(line)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self._file.flush()
            fd = self._file.fileno()
            await asyncio.to_thread(os.fsync, fd)
            for done in batch:
                if not done.done():
                    done.set_result(None)

    def append_now(self, record: dict[str, Any]) -> None:
        """Synchronous append (for the controller's fault log, a few lines a run)."""
        self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a journal (a torn last line is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
