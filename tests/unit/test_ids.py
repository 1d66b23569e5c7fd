"""Ids: the ULID layout and order, with randomness read from the OS in blocks."""

from __future__ import annotations

import itertools

from hookline import ids
from hookline.ids import IdPrefix, new_id


def decode(value: str) -> tuple[int, int]:
    """An id's (milliseconds, random part), read back as a ULID reader would."""
    number = 0
    for char in value.partition("_")[2]:
        number = number * 32 + ids._ALPHABET.index(char)
    return number >> 80, number & ((1 << 80) - 1)


def test_an_id_encodes_its_milliseconds_in_the_first_48_bits() -> None:
    for ms in (0, 1, 1_700_000_000_000, (1 << 48) - 1):
        made = new_id(IdPrefix.EVENT, now_ms=ms)
        assert decode(made)[0] == ms
        assert len(made) == len("evt_") + 26
    assert new_id(IdPrefix.EVENT, now_ms=(1 << 48) - 1)[4] == "7"  # 128 bits: the top is 0..7


def test_a_hundred_thousand_ids_strictly_increase_and_never_repeat() -> None:
    made = [new_id(IdPrefix.DELIVERY) for _ in range(100_000)]  # 25 blocks of randomness
    assert all(a < b for a, b in itertools.pairwise(made))
    assert len(set(made)) == len(made)


def test_ids_of_different_milliseconds_have_unrelated_random_parts() -> None:
    # A fresh block of randomness per 409 ids: no two random parts repeat across blocks, and
    # in a new millisecond the random part is fresh (not the previous one plus one).
    randoms = [decode(new_id(IdPrefix.EVENT, now_ms=1_000 + i))[1] for i in range(2_000)]
    assert len(set(randoms)) == len(randoms)
    assert sum(1 for a, b in itertools.pairwise(randoms) if b == a + 1) == 0


def test_ids_of_alternating_milliseconds_each_carry_their_own() -> None:
    # The time part is kept from one id to the next: switching back and forth must not mix it.
    for ms in (5, 1_700_000_000_000, 5, (1 << 48) - 1, 1_700_000_000_000):
        assert decode(new_id(IdPrefix.LOG, now_ms=ms))[0] == ms


def test_each_id_encodes_its_own_random_part_across_the_kept_first_sixty_bits(
    monkeypatch,
) -> None:
    # The random part's first 60 bits are kept from one id to the next (they change once in a
    # million ids of one millisecond): ids whose random parts differ only below, only above,
    # or across that line must each read back as their own.
    base = 0x3FFF_FFFF_FFFF_FFFF_FFFF  # 78 bits
    randoms = [base, base - (1 << 20), 5, 0xFFFFF, 1 << 20, (1 << 80) - 1, 0, 0xABCDE]
    randoms += [base & ~0xFFFFF | low for low in (0, 0xFFFFF, 0x12345)]
    given = iter(randoms)
    monkeypatch.setattr(ids, "_random_bits", lambda count: next(given))
    for ms, random in enumerate(randoms):
        assert decode(new_id(IdPrefix.WEBHOOK, now_ms=ms)) == (ms, random)


def test_ids_counting_up_past_a_change_of_the_kept_bits_stay_in_order(monkeypatch) -> None:
    # The monotonic rule's +1 carries into the kept 60 bits every 2**20 ids.
    monkeypatch.setattr(ids, "_random_bits", lambda count: (1 << 20) * 7 - 3)
    monkeypatch.setattr(ids, "_last", [0, 0])
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    made = [new_id(IdPrefix.EVENT) for _ in range(6)]
    assert [decode(m)[1] for m in made] == [(1 << 20) * 7 - 3 + i for i in range(6)]
    assert all(a < b for a, b in itertools.pairwise(made))
