"""Prefixed, opaque, time-ordered ids (``wh_``, ``evt_``, ``dlv_``, ``log_``, ``key_``, ``ten_``).

An id is a prefix and 26 characters of Crockford base32 over 48 bits of milliseconds since the
epoch and 80 random bits (the ULID layout). Sorting ids sorts by creation time, which is what
keyset pagination relies on: "newest first" is ``ORDER BY id DESC``.
"""

from __future__ import annotations

import secrets
import time
from enum import StrEnum

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class IdPrefix(StrEnum):
    """The kinds of object that carry an id."""

    TENANT = "ten"
    KEY = "key"
    WEBHOOK = "wh"
    EVENT = "evt"
    DELIVERY = "dlv"
    LOG = "log"


_last = [0, 0]  # the last (milliseconds, random part) handed out by this process


def new_id(prefix: IdPrefix, *, now_ms: int | None = None) -> str:
    """A fresh id such as ``wh_01JD3Z6W9R5M1F4T8KQX2B7C0N``.

    Within one process, ids are strictly increasing: in the same millisecond the random part
    is the previous one plus one (the monotonic ULID rule), so "newest first" is exact for
    records made by one process, not a coin toss inside a millisecond.
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if ms <= _last[0] and now_ms is None:
        ms, rand = _last[0], _last[1] + 1
    else:
        rand = secrets.randbits(80)
    if rand >= 1 << 80:  # 2**80 ids in one millisecond: borrow the next one
        ms, rand = ms + 1, secrets.randbits(79)
    if now_ms is None:
        _last[0], _last[1] = ms, rand
    value = (ms & ((1 << 48) - 1)) << 80 | rand
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix.value}_{''.join(reversed(chars))}"


def looks_like(prefix: IdPrefix, value: str) -> bool:
    """Cheap shape check, used to answer 404 early for ids that cannot exist."""
    head, _, body = value.partition("_")
    return head == prefix.value and len(body) == 26 and all(c in _ALPHABET for c in body)
