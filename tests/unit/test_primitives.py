"""Ids, cursors, times and the secret box."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from hookline.domain import times
from hookline.domain.paging import decode_cursor, encode_cursor, page_of
from hookline.domain.times import from_epoch_ms, iso_ms, to_epoch_ms, utcnow
from hookline.ids import IdPrefix, looks_like, new_id
from hookline.secretbox import SecretBox, SecretBoxError


def test_ids_are_prefixed_unique_and_time_ordered() -> None:
    first = new_id(IdPrefix.WEBHOOK, now_ms=1_700_000_000_000)
    later = new_id(IdPrefix.WEBHOOK, now_ms=1_700_000_000_001)
    assert re.fullmatch(r"wh_[0-9A-HJKMNP-TV-Z]{26}", first)
    assert first < later
    assert len({new_id(IdPrefix.EVENT) for _ in range(1000)}) == 1000
    assert looks_like(IdPrefix.WEBHOOK, first)
    assert not looks_like(IdPrefix.EVENT, first)
    assert not looks_like(IdPrefix.WEBHOOK, "wh_short")


def test_cursor_round_trip_and_garbage() -> None:
    wid = new_id(IdPrefix.WEBHOOK)
    assert decode_cursor(encode_cursor(wid)) == wid
    assert decode_cursor("!!!") is None
    assert decode_cursor(encode_cursor("a'; DROP TABLE x")) is None


def test_page_of_sets_cursor_only_when_more_rows_exist() -> None:
    rows = ["a1", "a2", "a3"]
    page = page_of(rows, 2, lambda r: r)
    assert page.items == ["a1", "a2"]
    assert page.next_cursor is not None
    assert decode_cursor(page.next_cursor) == "a2"
    last = page_of(rows, 3, lambda r: r)
    assert last.items == rows
    assert last.next_cursor is None


def test_utcnow_is_the_clock_truncated_to_the_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    year_2242 = 2**33 * 1000
    rng = random.Random(7)
    samples = [0, 1, 999, 1_764_000_000_123, year_2242 - 1]
    samples += [rng.randrange(year_2242) for _ in range(20_000)]
    for ms in samples:
        for extra_ns in (0, 999_999):  # anywhere inside the millisecond
            monkeypatch.setattr(times.time, "time_ns", lambda ms=ms, e=extra_ns: ms * 10**6 + e)
            now = utcnow()
            assert now == epoch + timedelta(milliseconds=ms), ms
            assert now.tzinfo is UTC
            assert to_epoch_ms(now) == ms


def test_utcnow_reads_the_system_clock() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    assert before <= utcnow() <= datetime.now(UTC)


def test_times_are_iso_with_milliseconds_and_z() -> None:
    moment = datetime(2026, 11, 29, 12, 22, 12, 123456, tzinfo=UTC)
    assert iso_ms(moment) == "2026-11-29T12:22:12.123Z"
    assert from_epoch_ms(to_epoch_ms(moment)) == moment.replace(microsecond=123000)


def test_secret_box_round_trip_and_binding() -> None:
    box = SecretBox("a-passphrase-of-at-least-32-characters!!")
    sealed = box.seal("s3cr3t-value", "wh_1")
    assert "s3cr3t-value" not in sealed
    assert sealed != box.seal("s3cr3t-value", "wh_1")  # fresh nonce each time
    assert box.open(sealed, "wh_1") == "s3cr3t-value"
    with pytest.raises(SecretBoxError):
        box.open(sealed, "wh_2")  # bound to its webhook
    other = SecretBox("another-passphrase-of-32-characters-long")
    with pytest.raises(SecretBoxError):
        other.open(sealed, "wh_1")


def test_ids_made_in_one_process_strictly_increase() -> None:
    made = [new_id(IdPrefix.LOG) for _ in range(5000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
