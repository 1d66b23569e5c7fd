"""Waking the delivery workers of every process: PostgreSQL ``LISTEN``/``NOTIFY``.

Whatever queues work (``publish``, ``insert_delivery``) runs ``pg_notify('hookline_work', '')``
in its own transaction; PostgreSQL hands the notification, at commit, to every session that
listens on the channel, in this process or any other. Each store keeps one connection for
that, outside the pool: a pooled connection goes back to other work and would take its
``LISTEN`` with it.

The connection is opened by the first wait, not by ``open()``: only processes that run workers
pay for it. Losing it costs latency, never work: a wait then ends after ``max_wait`` like a
poll, and the next wait connects again. A connection can also die silently (a NAT or firewall
forgetting an idle flow delivers nothing and reports nothing), so while waits keep ending
without work, it is asked ``SELECT 1`` now and then; one that does not answer is dropped.
Nothing here raises to the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

CHANNEL = "hookline_work"
CONNECT_TIMEOUT = 5.0  # seconds; a connect still going when a wait ends goes on meanwhile
CLOSE_TIMEOUT = 2.0
CHECK_EVERY = 30.0  # seconds between checks that an idle listening connection still answers
CHECK_TIMEOUT = 5.0

log = logging.getLogger("hookline.store")


class WorkListener:
    """A dedicated ``LISTEN hookline_work`` connection and the event it sets.

    Args:
        dsn: the database URL.
        describe: turns a connection error into one short line without the password.
    """

    def __init__(self, dsn: str, describe: Callable[[BaseException], str]) -> None:
        self._dsn = dsn
        self._describe = describe
        self._work = asyncio.Event()
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[None] | None = None
        self._next_check = 0.0  # loop time
        self._closed = False

    @property
    def listening(self) -> bool:
        """Whether notifications are being received right now."""
        return self._conn is not None and not self._conn.is_closed()

    async def wait(self, max_wait: float) -> bool:
        """Sleep until a notification arrives or ``max_wait`` seconds pass; True if woken.

        A notification that arrived since the last wait counts (it is not lost between two
        waits). Connecting, when needed, counts against ``max_wait``.
        """
        try:
            async with asyncio.timeout(max_wait):
                connecting = self._connect_if_needed()
                if connecting is not None:
                    # asyncio.wait: neither cancels the task when this wait times out, nor
                    # raises if close() cancels it.
                    await asyncio.wait([connecting])
                await self._work.wait()
        except TimeoutError:
            self._check_if_due()
            return False
        self._work.clear()
        return True

    async def close(self) -> None:
        """Stop listening; safe to call twice. Later waits only sleep."""
        self._closed = True
        for task in (self._connecting, self._checking):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task])
        self._connecting = self._checking = None
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await conn.close(timeout=CLOSE_TIMEOUT)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            conn.terminate()

    # -- the connection ----------------------------------------------------------------------

    def _connect_if_needed(self) -> asyncio.Task[None] | None:
        if self._closed or self.listening:
            return None
        if self._connecting is None or self._connecting.done():
            self._conn = None
            self._connecting = asyncio.create_task(self._connect(), name="hookline-listen")
        return self._connecting

    async def _connect(self) -> None:
        conn: asyncpg.Connection[asyncpg.Record] | None = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException as exc:
            if conn is not None:
                conn.terminate()
            if not isinstance(exc, Exception):  # cancelled by close(): nothing to report
                raise
            # Whatever went wrong only means "poll until the next wait tries again".
            log.warning("cannot listen for new work, polling: %s", self._describe(exc))
            return
        conn.add_termination_listener(self._lost)
        self._conn = conn
        self._next_check = asyncio.get_running_loop().time() + CHECK_EVERY

    def _check_if_due(self) -> None:
        conn, loop = self._conn, asyncio.get_running_loop()
        if conn is None or conn.is_closed() or loop.time() < self._next_check:
            return
        if self._checking is None or self._checking.done():
            self._next_check = loop.time() + CHECK_EVERY
            self._checking = asyncio.create_task(self._check(conn), name="hookline-listen-check")

    async def _check(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        try:
            await conn.execute("SELECT 1", timeout=CHECK_TIMEOUT)
        except Exception as exc:
            log.warning(
                "the connection listening for new work does not answer (%s); reconnecting",
                self._describe(exc),
            )
            if self._conn is conn:
                self._conn = None  # the next wait connects again
            conn.terminate()

    def _notified(self, _conn: Any, _pid: int, _channel: str, _payload: object) -> None:
        self._work.set()

    def _lost(self, conn: Any) -> None:
        if conn is self._conn:  # not a connection close() is closing on purpose
            self._conn = None
            log.warning("lost the connection listening for new work; reconnecting on next wait")
