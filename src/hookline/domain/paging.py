"""Keyset pagination with opaque cursors.

Ids are time-ordered (see :mod:`hookline.ids`), so a cursor is just the last id of the page,
wrapped so that clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and the cursor for the next, if there is one."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    """Wrap the last id of a page."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The id inside a cursor, or ``None`` if the cursor is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = raw.decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not value or len(value) > 64 or not value.replace("_", "").isalnum():
        return None
    return value


def page_of(rows: list[T], limit: int, id_of: Callable[[T], str]) -> Page[T]:
    """Build a page from up to ``limit + 1`` fetched rows (the extra row proves there is more)."""
    if len(rows) > limit:
        kept = rows[:limit]
        return Page(kept, encode_cursor(id_of(kept[-1])))
    return Page(rows, None)
