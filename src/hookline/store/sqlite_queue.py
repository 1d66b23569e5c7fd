"""The delivery queue's writes on SQLite, each one transaction of as few statements as it takes.

Run on the store's thread (``conn`` is its connection). The hot statements take and give whole
batches as one JSON value, so that each is ONE step: Python's sqlite3 lets go of the GIL for
every step (every row of a cursor, every row of ``executemany``), and each time the event loop's
thread takes it in between, the two threads hand it back and forth through the kernel (futex
wake-ups were ~9 % of ``serve``'s CPU with a step per row). A claim is a JSON array of the due
ids, an ``UPDATE`` of those ids, and one JSON array of the claimed rows (their bodies beside it,
as one BLOB); a batch of completions is one ``UPDATE ... FROM json_each`` and one
``INSERT ... SELECT FROM json_each`` of the logs; a release is one statement. The same rule
holds for publishing (``sqlite_publish``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import orjson

from hookline.domain.deliveries import Completion
from hookline.domain.times import to_epoch_ms
from hookline.store.sql import queries

Q = queries("sqlite")
BODY = 9  # where claimed_details has a row's body size, and claim puts its body


class StoreConnection(sqlite3.Connection):
    """The store's connection (``sqlite3.connect(factory=...)``), which remembers its
    ``synchronous`` setting: switching it is one more statement, and every statement is one
    more time the store's thread lets go of the GIL and waits to take it back (measured: while
    the event loop was busy sending, a claim spent two thirds of its time waiting so)."""

    synchronous_full = True  # as the store opens it


def synchronous(conn: sqlite3.Connection, *, full: bool) -> None:
    """``synchronous=FULL`` (a commit is on disk) or ``NORMAL`` for the next transactions;
    a statement only when that is a change (always, on a plain connection)."""
    if not isinstance(conn, StoreConnection) or conn.synchronous_full is not full:
        conn.execute("PRAGMA synchronous = FULL" if full else "PRAGMA synchronous = NORMAL")
        if isinstance(conn, StoreConnection):
            conn.synchronous_full = full


@contextmanager
def write(conn: sqlite3.Connection, *, full: bool = True) -> Iterator[sqlite3.Connection]:
    """One write transaction, taking the write lock up front, committed to disk (``full``;
    see :func:`engine_write` for the other)."""
    synchronous(conn, full=full)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def engine_write(conn: sqlite3.Connection) -> AbstractContextManager[sqlite3.Connection]:
    """A write of the delivery engine's (claim, complete, release): committed without waiting
    for the disk (``synchronous=NORMAL``; the WAL reaches the disk with the next ``FULL``
    commit or checkpoint). Every other write sets ``FULL`` again first (:func:`write`, and
    ``sqlite_publish``), so the setting changes only when the engine's writes and the others
    take turns.

    A process crash loses none of it (the WAL is in the OS's page cache); a power loss may lose
    the last ones, which leaves those deliveries leased or pending: they are sent again when
    the lease expires. At-least-once either way; events and their deliveries (what a 202
    promises) are still written with ``synchronous=FULL``.
    """
    return write(conn, full=False)


def claim(
    conn: sqlite3.Connection,
    now_ms: int,
    limit: int,
    lease_until_ms: int,
    token: str,
    skip: Sequence[str],
    floor_ms: int,
) -> tuple[list[list[Any]], int | None]:
    """Lease up to ``limit`` due deliveries, reading the due index from ``floor_ms``; their
    ``claimed_details`` arrays (each with its body's bytes), oldest first, and the oldest
    one's due time."""
    params = {"now": now_ms, "limit": limit, "skip": json.dumps(list(skip)), "floor": floor_ms}
    with engine_write(conn):
        ids, oldest = conn.execute(Q["claim_due"], params).fetchone()
        if ids == "[]":
            return [], None
        lease = {"ids": ids, "token": token, "lease_until": lease_until_ms, "now": now_ms}
        conn.execute(Q["claim_lease"], lease)
        details, bodies = conn.execute(Q["claimed_details"], {"ids": ids}).fetchone()
    rows: list[list[Any]] = orjson.loads(details)
    start = 0
    for row in rows:  # each row's body size, in claimed_details' order: its body, sliced
        end = start + row[BODY]
        row[BODY] = bodies[start:end]
        start = end
    return rows, oldest


def completion_row(c: Completion) -> list[Any]:
    """One outcome as the JSON array ``complete_deliveries`` reads."""
    next_at = None if c.next_attempt_at is None else to_epoch_ms(c.next_attempt_at)
    return [
        c.delivery_id,
        c.lease_token,
        c.status.value,
        c.attempts,
        next_at,
        c.last_status_code,
        c.last_error,
    ]


def complete(conn: sqlite3.Connection, batch: str, logs: str, now_ms: int) -> int:
    """Apply a batch (``batch`` from :func:`completion_row` rows as one JSON array) and insert
    its logs (``logs``: ``sqlite_rows.log_row`` arrays as one JSON array); returns how many
    deliveries changed."""
    with engine_write(conn):
        applied = conn.execute(Q["complete_deliveries"], {"batch": batch, "now": now_ms}).rowcount
        conn.execute(Q["insert_logs"], {"logs": logs})
        return int(applied)


def release(conn: sqlite3.Connection, leases: str, due_ms: int, now_ms: int) -> int:
    """Give back leased deliveries (``leases``: a JSON array of ``[id, token]``)."""
    params = {"leases": leases, "next_attempt_at": due_ms, "now": now_ms}
    with engine_write(conn):
        return int(conn.execute(Q["release_deliveries"], params).rowcount)
