"""PostgreSQL errors at the boundary: driver exceptions in, Hookline errors out.

Messages name ``host:port/db`` and never the password of the DSN.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import asyncpg

from hookline.errors import Conflict, StoreUnavailable

# Errors that mean "the server is gone or refuses us", whatever the statement was.
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    OSError,  # includes ConnectionError and TimeoutError
)

_REASON_MAX = 160


def describe_dsn(dsn: str) -> str:
    """``host:port/db`` of a DSN, for messages: never the user's password."""
    parts = urlsplit(dsn)
    location = parts.netloc.rpartition("@")[2] or "localhost"
    try:
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        location = f"{host}:{port}"
    except ValueError:  # a malformed port: show what was written, minus user info
        pass
    database = unquote(parts.path.lstrip("/")) or unquote(parts.username or "") or "postgres"
    return f"{location}/{database}"


def dsn_password(dsn: str) -> str | None:
    """The password inside a DSN, if any, so that messages can scrub it."""
    try:
        password = urlsplit(dsn).password
    except ValueError:
        return None
    return unquote(password) if password else None


def short_reason(exc: BaseException, *, secret: str | None = None) -> str:
    """One short line saying why a connection failed, with ``secret`` scrubbed out."""
    if isinstance(exc, TimeoutError):
        reason = "timed out"
    elif isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
        reason = "connection refused"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = str(exc).strip() or type(exc).__name__
    reason = " ".join(reason.split())  # one line, whatever the driver said
    if secret:
        reason = reason.replace(secret, "***")
    if len(reason) > _REASON_MAX:
        reason = reason[: _REASON_MAX - 3] + "..."
    return reason


def is_closed_error(exc: asyncpg.InterfaceError) -> bool:
    """Whether an InterfaceError means a closed pool or connection (not a misuse bug)."""
    text = str(exc).lower()
    return "closed" in text or "closing" in text


@contextmanager
def translated(where: str, *, conflict: str, secret: str | None) -> Iterator[None]:
    """Turn driver errors raised inside the block into Hookline's errors.

    A uniqueness clash becomes :class:`Conflict` (with ``conflict`` as its message); a lost
    or refused connection becomes :class:`StoreUnavailable` naming ``where``; so does a
    transaction the server rolled back to break a deadlock or a serialisation conflict
    between concurrent writers (trying again is the cure, as for a lost connection).
    """
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(conflict) from exc
    except asyncpg.exceptions.TransactionRollbackError as exc:
        reason = short_reason(exc, secret=secret)
        raise StoreUnavailable(f"PostgreSQL rolled the transaction back: {reason}") from exc
    except asyncpg.InterfaceError as exc:
        if not is_closed_error(exc):
            raise
        raise StoreUnavailable(f"{where}: {short_reason(exc, secret=secret)}") from exc
    except asyncpg.exceptions.InternalClientError as exc:
        # What asyncpg raises when a connection the server terminated is used before the
        # driver noticed ("cannot switch to state ..."): a lost connection, not a bug.
        raise StoreUnavailable(f"{where}: connection lost ({short_reason(exc)})") from exc
    except CONNECTION_LOST as exc:
        raise StoreUnavailable(f"{where}: {short_reason(exc, secret=secret)}") from exc
