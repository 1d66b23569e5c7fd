"""The delivery queue's writes on SQLite, each one transaction of as few statements as it takes.

Run on the store's thread (``conn`` is its connection). A claim is one ``UPDATE ... RETURNING
id`` plus one read of the claimed rows by id; a batch of completions is one ``UPDATE ... FROM
json_each`` plus one ``executemany`` of positional log rows; a release is one statement.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from hookline.domain.deliveries import Completion
from hookline.domain.times import to_epoch_ms
from hookline.store.sql import queries

Q = queries("sqlite")


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taking the write lock up front."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def engine_write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write of the delivery engine's (claim, complete, release): committed without waiting
    for the disk (``synchronous=NORMAL`` for this transaction; the WAL reaches the disk with the
    next ``FULL`` commit or checkpoint).

    A process crash loses none of it (the WAL is in the OS's page cache); a power loss may lose
    the last ones, which leaves those deliveries leased or pending: they are sent again when
    the lease expires. At-least-once either way; events and their deliveries (what a 202
    promises) are still written with ``synchronous=FULL``.
    """
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        with write(conn):
            yield conn
    finally:
        conn.execute("PRAGMA synchronous = FULL")


def claim(
    conn: sqlite3.Connection,
    now_ms: int,
    limit: int,
    lease_until_ms: int,
    token: str,
    skip: Sequence[str],
) -> list[sqlite3.Row]:
    params = {
        "now": now_ms,
        "limit": limit,
        "lease_until": lease_until_ms,
        "token": token,
        "skip": json.dumps(list(skip)),
    }
    with engine_write(conn):
        ids = [row[0] for row in conn.execute(Q["claim_due"], params)]
        if not ids:
            return []
        return conn.execute(Q["claimed_details"], {"ids": json.dumps(ids)}).fetchall()


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


def complete(conn: sqlite3.Connection, batch: str, logs: list[tuple[Any, ...]], now_ms: int) -> int:
    """Apply a batch (``batch`` from :func:`completion_row` rows as one JSON array) and insert
    its logs (``sqlite_rows.log_params`` tuples); returns how many deliveries changed."""
    with engine_write(conn):
        applied = conn.execute(Q["complete_deliveries"], {"batch": batch, "now": now_ms}).rowcount
        conn.executemany(Q["insert_log"], logs)
        return int(applied)


def release(conn: sqlite3.Connection, leases: str, due_ms: int, now_ms: int) -> int:
    """Give back leased deliveries (``leases``: a JSON array of ``[id, token]``)."""
    params = {"leases": leases, "next_attempt_at": due_ms, "now": now_ms}
    with engine_write(conn):
        return int(conn.execute(Q["release_deliveries"], params).rowcount)
