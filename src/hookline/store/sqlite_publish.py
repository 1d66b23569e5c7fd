"""Publishing on SQLite, with group commit.

Concurrent publishes (many API requests at once) are written together: one ``BEGIN IMMEDIATE``
... ``COMMIT`` (so one fsync under ``synchronous=FULL``) holds every request that queued while
the previous group was being written. Each request runs inside its own ``SAVEPOINT``: one that
fails is rolled back alone and answered with its error, the others commit. No request is
answered before the ``COMMIT`` that holds it returned, so a 202 still means "on disk"; if the
``COMMIT`` itself fails, every request of the group gets the error and nothing was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from hookline.domain.deliveries import PublishResult
from hookline.domain.events import NewEvent
from hookline.domain.times import to_epoch_ms
from hookline.store.base import IdempotencyClaim, PublishOutcome
from hookline.store.sql import queries

Q = queries("sqlite")
GROUP_MAX = 256  # requests per transaction, so a huge queue still commits in steps


@dataclass
class _Request:
    events: list[NewEvent]
    idempotency: IdempotencyClaim | None
    now_ms: int
    future: asyncio.Future[PublishOutcome]
    loop: asyncio.AbstractEventLoop
    outcome: PublishOutcome | None = None
    error: BaseException | None = None


@dataclass
class PublishQueue:
    """Requests waiting for the next group; the store's thread takes them all at once."""

    translate: Callable[[BaseException], BaseException]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: list[_Request] = field(default_factory=list)

    def add(
        self, events: list[NewEvent], idempotency: IdempotencyClaim | None, now: datetime
    ) -> tuple[asyncio.Future[PublishOutcome], bool]:
        """Queue one request; True when no group is queued yet to pick it up (the caller
        then submits :meth:`write_group` to the store's thread)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PublishOutcome] = loop.create_future()
        with self._lock:
            first = not self._pending
            self._pending.append(_Request(events, idempotency, to_epoch_ms(now), future, loop))
        return future, first

    def write_group(self, conn: sqlite3.Connection) -> bool:
        """On the store's thread: write one group of what is queued, answer each request.

        Returns True if more requests are queued: the caller then queues another call behind
        whatever else waits for the thread (the engine's calls are not held up by a stream
        of publishes)."""
        with self._lock:
            group, self._pending = self._pending[:GROUP_MAX], self._pending[GROUP_MAX:]
        if group:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for request in group:
                    _write_one(conn, request, self.translate)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                error = self.translate(exc)
                for request in group:
                    request.outcome, request.error = None, error
            for request in group:
                _answer(request)
        with self._lock:
            return bool(self._pending)

    def fail_all(self, error: BaseException) -> None:
        """Answer every queued request with ``error`` (the store is closing)."""
        with self._lock:
            group, self._pending = self._pending, []
        for request in group:
            request.error = error
            _answer(request)


def _write_one(
    conn: sqlite3.Connection, request: _Request, translate: Callable[[BaseException], BaseException]
) -> None:
    conn.execute("SAVEPOINT publish")
    try:
        request.outcome = publish(conn, request.events, request.idempotency, request.now_ms)
    except (sqlite3.IntegrityError, sqlite3.DataError, ValueError, TypeError) as exc:
        # This request's own fault (a constraint, a value SQLite refuses): undo it alone.
        conn.execute("ROLLBACK TO publish")
        conn.execute("RELEASE publish")
        request.error = translate(exc)
        return
    conn.execute("RELEASE publish")


def _answer(request: _Request) -> None:
    def settle() -> None:
        if request.future.cancelled():
            return
        if request.error is not None:
            request.future.set_exception(request.error)
        elif request.outcome is not None:
            request.future.set_result(request.outcome)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        request.loop.call_soon_threadsafe(settle)


def publish(
    conn: sqlite3.Connection,
    events: list[NewEvent],
    idempotency: IdempotencyClaim | None,
    now_ms: int,
) -> PublishOutcome:
    """Store one request's events with their deliveries (inside the caller's transaction)."""
    if idempotency is not None:
        row = conn.execute(
            Q["find_idempotency"],
            {
                "tenant_id": idempotency.tenant_id,
                "key": idempotency.key,
                "not_before": to_epoch_ms(idempotency.not_before),
            },
        ).fetchone()
        if row is not None:
            return PublishOutcome([], replayed=row["response"])
    results = _publish_all(conn, events, now_ms)
    if idempotency is not None:
        conn.execute(
            Q["save_idempotency"],
            {
                "tenant_id": idempotency.tenant_id,
                "key": idempotency.key,
                "response": idempotency.render(results),
                "now": now_ms,
            },
        )
    return PublishOutcome(results)


def _publish_all(
    conn: sqlite3.Connection, events: list[NewEvent], now_ms: int
) -> list[PublishResult]:
    """Insert the events, then fan them all out in one set-based statement."""
    rows = [
        [e.id, e.tenant_id, e.event, e.client_cuid, e.body.decode(), to_epoch_ms(e.created_at)]
        for e in events
    ]
    conn.execute(Q["insert_events"], {"events": json.dumps(rows, ensure_ascii=False)})
    keys = json.dumps([row[:4] for row in rows], ensure_ascii=False)  # fan-out needs no body
    conn.execute(Q["fan_out_many"], {"events": keys, "now": now_ms})
    (counts,) = conn.execute(Q["fanned_out"], {"events": keys}).fetchone()
    return [PublishResult(e.id, n) for e, n in zip(events, json.loads(counts), strict=True)]
