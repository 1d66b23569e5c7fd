"""Prefixed, opaque, time-ordered ids (``wh_``, ``evt_``, ``dlv_``, ``log_``, ``key_``, ``ten_``).

An id is a prefix and 26 characters of Crockford base32 over 48 bits of milliseconds since the
epoch and 80 random bits (the ULID layout). Sorting ids sorts by creation time, which is what
keyset pagination relies on: "newest first" is ``ORDER BY id DESC``.
"""

from __future__ import annotations

import os
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

# Random bytes are read from the OS in blocks, not one syscall per id (measured: 2-5% of the
# publish path). Each block is os.urandom's, as unguessable as secrets.randbits; a block is
# never handed out twice (the offset moves on before the bytes are used).
_POOL_SIZE = 4096
_pool = [b""]  # the current block
_offset = [_POOL_SIZE]  # where its next unused byte is

# Crockford base32 of every 10-bit value: an id is 13 table look-ups instead of 26 divisions.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_TIME = (40, 30, 20, 10, 0)  # the shifts of the time part's 5 pairs
_RANDOM_HIGH = (70, 60, 50, 40, 30, 20)  # and of the random part's first 6
_time_text: list[tuple[int, str]] = [(-1, "")]  # the last millisecond encoded, and its text
# The ids of one millisecond count up by one (below), so they share the random part's first
# 60 bits but for one id in a million: its text is kept too (as one tuple, like the time's).
_high_text: list[tuple[int, str]] = [(-1, "")]
_PREFIXES = {prefix: prefix.value + "_" for prefix in IdPrefix}  # Enum's .value is slow


def _random_bits(count: int) -> int:
    """``count`` (at most 80) fresh random bits from the pool."""
    offset = _offset[0]
    if offset + 10 > _POOL_SIZE:
        _pool[0], offset = os.urandom(_POOL_SIZE), 0
    _offset[0] = offset + 10
    return int.from_bytes(_pool[0][offset : offset + 10], "big") >> (80 - count)


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
        rand = _random_bits(80)
    if rand >= 1 << 80:  # 2**80 ids in one millisecond: borrow the next one
        ms, rand = ms + 1, _random_bits(79)
    if now_ms is None:
        _last[0], _last[1] = ms, rand
    pairs = _PAIRS
    millis, time_text = _time_text[0]
    if millis != ms:
        # 48 bits in 10 characters (the first is at most "7": 48 + 80 bits in 26 characters, as
        # ULIDs have it); the ids of one millisecond share them, so they are kept (as one tuple:
        # one store, whatever thread reads it).
        masked = ms & ((1 << 48) - 1)
        time_text = "".join([pairs[(masked >> shift) & 1023] for shift in _TIME])
        _time_text[0] = (ms, time_text)
    high = rand >> 20
    known, high_text = _high_text[0]
    if known != high:
        high_text = "".join([pairs[(high >> (shift - 20)) & 1023] for shift in _RANDOM_HIGH])
        _high_text[0] = (high, high_text)
    return (
        f"{_PREFIXES[prefix]}{time_text}{high_text}{pairs[(rand >> 10) & 1023]}{pairs[rand & 1023]}"
    )


def looks_like(prefix: IdPrefix, value: str) -> bool:
    """Cheap shape check, used to answer 404 early for ids that cannot exist."""
    head, _, body = value.partition("_")
    return head == prefix.value and len(body) == 26 and all(c in _ALPHABET for c in body)
