"""Publishing on SQLite, with group commit.

Concurrent publishes (many API requests at once) are written together: one ``BEGIN IMMEDIATE``
... ``COMMIT`` (so one fsync under ``synchronous=FULL``) holds every request that queued while
the previous group was being written. The requests without an idempotency key are written
together, by the same three statements as one request (every statement is a step that lets go
of the GIL: see ``sqlite_queue``); if that fails, and for requests with a key, each request runs
inside its own ``SAVEPOINT``: one that fails is rolled back alone and answered with its error,
the others commit. Savepoints are statements too, so there are none where the transaction holds
nothing else: a group of one request, or of requests without a key written together (if that
fails, the transaction is rolled back and they are written again, each alone). No request is
answered before the ``COMMIT`` that holds it returned, so a 202 still means "on disk"; if the
``COMMIT`` itself fails, every request of the group gets the error and nothing was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from hookline.domain.deliveries import PublishResult
from hookline.domain.events import NewEvent
from hookline.domain.times import to_epoch_ms
from hookline.store.base import IdempotencyClaim, PublishOutcome
from hookline.store.json_text import json_text
from hookline.store.sql import queries
from hookline.store.sqlite_queue import synchronous

Q = queries("sqlite")
GROUP_MAX = 256  # requests per transaction, so a huge queue still commits in steps
# A request's own fault (a constraint, a value SQLite refuses): it fails alone, not its group.
REQUEST_FAULTS = (sqlite3.IntegrityError, sqlite3.DataError, ValueError, TypeError)


@dataclass
class _Rows:
    """A request's events as ``insert_events`` reads them, made on the caller's thread (the
    store's thread is the one publishing waits for: measured, building these there was ~12 %
    of its time under batch ingest, holding the GIL the event loop wants)."""

    events: list[NewEvent]
    now_ms: int
    rows: str  # JSON array of [id, tenant_id, event, client_cuid, start, size, created_at]
    bodies: bytes  # the bodies one after another; ``start`` (from 1) is within these
    created_is_now: bool  # every event created at ``now_ms`` (as the event service makes them)


def prepare(events: list[NewEvent], now_ms: int) -> _Rows:
    """The rows of one request's events (see :class:`_Rows`)."""
    rows = []
    start = 1
    created_is_now = True
    created, created_ms = None, 0  # the events of a request share their created_at
    for e in events:
        size = len(e.body)
        if e.created_at is not created:
            created, created_ms = e.created_at, to_epoch_ms(e.created_at)
            created_is_now = created_is_now and created_ms == now_ms
        rows.append([e.id, e.tenant_id, e.event, e.client_cuid, start, size, created_ms])
        start += size
    bodies = b"".join([e.body for e in events])
    return _Rows(events, now_ms, json_text(rows), bodies, created_is_now)


@dataclass
class _Request:
    rows: _Rows
    idempotency: IdempotencyClaim | None
    future: asyncio.Future[PublishOutcome]
    loop: asyncio.AbstractEventLoop
    outcome: PublishOutcome | None = None
    counts: list[int] | None = None  # deliveries per event: the outcome, made on the loop
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
        request = _Request(prepare(events, to_epoch_ms(now)), idempotency, future, loop)
        with self._lock:
            first = not self._pending
            self._pending.append(request)
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
                synchronous(conn, full=True)  # a 202 means on disk
                conn.execute("BEGIN IMMEDIATE")
                if len(group) == 1:
                    _write_only(conn, group[0], self.translate)
                else:
                    _write_group(conn, group, self.translate)
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                error = self.translate(exc)
                for request in group:
                    request.outcome, request.counts, request.error = None, None, error
            _answer_all(group)
        with self._lock:
            return bool(self._pending)

    def fail_all(self, error: BaseException) -> None:
        """Answer every queued request with ``error`` (the store is closing)."""
        with self._lock:
            group, self._pending = self._pending, []
        for request in group:
            request.error = error
        _answer_all(group)


def _write_only(
    conn: sqlite3.Connection, request: _Request, translate: Callable[[BaseException], BaseException]
) -> None:
    """A group of one request, in the transaction just begun: committed, or rolled back with
    the request's own fault as its answer. (No savepoint: each statement is one more time the
    thread lets go of the GIL and waits to take it back, see sqlite_queue.)"""
    try:
        _publish_request(conn, request)
    except REQUEST_FAULTS as exc:
        conn.execute("ROLLBACK")
        request.outcome, request.counts, request.error = None, None, translate(exc)
        return
    conn.execute("COMMIT")


def _write_group(
    conn: sqlite3.Connection,
    group: list[_Request],
    translate: Callable[[BaseException], BaseException],
) -> None:
    """Several requests, in the transaction just begun, then committed: those without an
    idempotency key together (when that fails, each alone), the others each alone."""
    plain = [r for r in group if r.idempotency is None]
    if len(plain) == len(group):
        # Nothing else in the transaction: if writing them together fails, undo it all.
        if _write_together(conn, plain, guarded=False):
            conn.execute("COMMIT")
            return
        conn.execute("BEGIN IMMEDIATE")  # rolled back: now each alone
        alone = group
    elif len(plain) > 1 and _write_together(conn, plain, guarded=True):
        alone = [r for r in group if r.idempotency is not None]
    else:
        alone = group
    for request in alone:
        _write_one(conn, request, translate)
    conn.execute("COMMIT")


def _write_one(
    conn: sqlite3.Connection, request: _Request, translate: Callable[[BaseException], BaseException]
) -> None:
    conn.execute("SAVEPOINT publish")
    try:
        _publish_request(conn, request)
    except REQUEST_FAULTS as exc:  # undo this request alone
        conn.execute("ROLLBACK TO publish")
        conn.execute("RELEASE publish")
        request.outcome, request.counts, request.error = None, None, translate(exc)
        return
    conn.execute("RELEASE publish")


def _write_together(conn: sqlite3.Connection, requests: list[_Request], *, guarded: bool) -> bool:
    """Write ``requests`` (none with an idempotency key) as one; False, with nothing written,
    if that fails (each is then written alone, so that only the faulty one is refused).
    ``guarded``: inside a savepoint, undone alone; else the caller's transaction holds
    nothing else, and it is rolled back."""
    if guarded:
        conn.execute("SAVEPOINT together")
    try:
        counts = _publish_all(conn, [r.rows for r in requests])
    except REQUEST_FAULTS:
        if guarded:
            conn.execute("ROLLBACK TO together")
            conn.execute("RELEASE together")
        else:
            conn.execute("ROLLBACK")
        return False
    if guarded:
        conn.execute("RELEASE together")
    start = 0
    for request in requests:
        end = start + len(request.rows.events)
        request.counts = counts[start:end]
        start = end
    return True


def _answer_all(group: list[_Request]) -> None:
    """Settle each request's future on its loop: one call per loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
    for request in group:
        by_loop.setdefault(request.loop, []).append(request)
    for loop, requests in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, requests)


def _settle(requests: list[_Request]) -> None:
    for request in requests:
        if request.future.cancelled():
            continue
        if request.error is not None:
            request.future.set_exception(request.error)
        elif request.outcome is not None:
            request.future.set_result(request.outcome)
        elif request.counts is not None:
            request.future.set_result(PublishOutcome(_results(request.rows, request.counts)))


def _publish_request(conn: sqlite3.Connection, request: _Request) -> None:
    """One request, inside the caller's transaction: its ``counts``, or with an idempotency
    key its whole ``outcome`` (the answer a replay gives is rendered here)."""
    if request.idempotency is None:
        request.counts = _publish_all(conn, [request.rows])
    else:
        request.outcome = _publish_keyed(conn, request.rows, request.idempotency)


def _publish_keyed(
    conn: sqlite3.Connection, rows: _Rows, idempotency: IdempotencyClaim
) -> PublishOutcome:
    """Store one request's events with their deliveries under its idempotency key (inside the
    caller's transaction), or answer what the key was first answered."""
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
    results = _results(rows, _publish_all(conn, [rows]))
    conn.execute(
        Q["save_idempotency"],
        {
            "tenant_id": idempotency.tenant_id,
            "key": idempotency.key,
            "response": idempotency.render(results),
            "now": rows.now_ms,
        },
    )
    return PublishOutcome(results)


def _results(rows: _Rows, counts: list[int]) -> list[PublishResult]:
    """What the request of ``rows`` answers, from the deliveries of each of its events."""
    return [PublishResult(e.id, n) for e, n in zip(rows.events, counts, strict=True)]


def _publish_all(conn: sqlite3.Connection, requests: list[_Rows]) -> list[int]:
    """Insert the events of ``requests``, then fan them out, set-based, reading them back from
    the events table; answers the deliveries of each event, in order."""
    # The bodies travel as one BLOB, each row naming its slice within its request's bodies
    # (1-based, as substr counts), each request's from its offset in :bases: embedded in the
    # JSON they would cost an escape and an unescape of every quote.
    bases = []
    size = 0
    for request in requests:
        bases.append(size)
        size += len(request.bodies)
    parameters = {
        "requests": "[" + ",".join([r.rows for r in requests]) + "]",
        "bases": json_text(bases),
        "bodies": b"".join([r.bodies for r in requests]),
    }
    last = conn.execute(Q["insert_events"], parameters).lastrowid
    if last is None:  # sqlite3 sets it after every INSERT
        raise RuntimeError("SQLite did not report the inserted events' rowids")
    count = sum(len(r.events) for r in requests)
    first = last - count + 1
    if all(r.created_is_now for r in requests):  # each delivery due at its event's created_at
        conn.execute(Q["fan_out_range"], {"first": first, "last": last, "now": None})
    else:  # a caller's own times: one fan-out per request, due at its time
        end = first - 1
        for request in requests:
            begin, end = end + 1, end + len(request.events)
            conn.execute(Q["fan_out_range"], {"first": begin, "last": end, "now": request.now_ms})
    inserted = {"first": first, "last": last}
    counts, first_id, last_id = conn.execute(Q["fanned_out_range"], inserted).fetchone()
    fanned: list[int] = orjson.loads(counts)
    # The range holds exactly these events unless SQLite picked rowids at random, which it
    # does only once a table's largest rowid is 2**63 - 1; if it ever did, fail (the group is
    # rolled back) rather than fan out events that are not these.
    ids = (requests[0].events[0].id, requests[-1].events[-1].id)
    if len(fanned) != count or (first_id, last_id) != ids:
        raise RuntimeError("the events just inserted do not have consecutive rowids")
    return fanned
