"""orjson and msgspec on the hot path answer exactly what the standard library answers.

The reference is ``json.dumps(value, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)`` for the bytes Hookline sends (see :mod:`hookline.domain.events`), and
``json.loads`` with Hookline's hooks for the request bodies it reads (``parse_json``). Random
documents (seeded, so a failure repeats) mix what the two libraries treat differently: floats
of every magnitude, integers past 64 bits, NaN beside null, control characters, non-ASCII text,
numbers inside strings.
"""

from __future__ import annotations

import enum
import json
import math
import random
import struct
from datetime import UTC, datetime
from typing import Any

import pytest

from hookline.domain.events import (
    _DECODER,
    _js_number,
    _no_constants,
    canonical_json,
    event_body,
    parse_json,
)
from hookline.store.json_text import json_text


def reference_bytes(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


STRINGS = [
    "",
    "plain",
    'quote " and \\ backslash',
    "\x00\x01\x1f\x7f \b\f\n\r\t",
    "café é 😀 \u2028\u2029",
    "12:00:00.005Z",
    "v1.2.3",
    ":0.00001,",
    "1e-7",
    "null",
]


def random_float(rng: random.Random) -> float:
    kind = rng.randrange(4)
    if kind == 0:  # any finite double at all
        while True:
            value: float = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(value):
                return value
    if kind == 1:  # around the thresholds of scientific notation
        return rng.choice([1, -1]) * rng.uniform(1, 10) * 10.0 ** rng.randint(-12, 22)
    if kind == 2:
        return round(rng.uniform(-1000, 1000), rng.randint(0, 6))
    return float(rng.randint(-(2**60), 2**60))


def random_int(rng: random.Random) -> int:
    return rng.choice([rng.randint(-1000, 1000), rng.randint(-(2**70), 2**70), 2**64, -(2**63) - 1])


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 7)
    if kind == 0:
        return rng.choice(STRINGS)
    if kind == 1:
        return random_int(rng)
    if kind == 2:
        return random_float(rng)
    if kind == 3:
        return rng.choice([True, False, None])
    if kind in (4, 5, 6):
        return "".join(rng.choice(STRINGS) for _ in range(rng.randrange(3)))
    if kind == 7:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {
        rng.choice(STRINGS) + str(i): random_value(rng, depth + 1) for i in range(rng.randrange(5))
    }


def test_canonical_json_is_the_standard_librarys_bytes_for_random_documents() -> None:
    rng = random.Random(6)
    for _ in range(3000):
        value = {"data": random_value(rng)}
        assert canonical_json(value) == reference_bytes(value), value


def test_canonical_json_floats_of_every_magnitude() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        value = [random_float(rng)]
        assert canonical_json(value) == reference_bytes(value), value
    for value in [1e-4, 9.99e-5, 1e-5, 1e-6, 1e-7, 5e-324, 1e16, 9.999e15, 1e21, -0.0, 2.0**53]:
        assert canonical_json({"x": value}) == reference_bytes({"x": value}), value


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"big": 2**64, "small": -(2**63) - 1}, id="ints past 64 bits"),
        pytest.param({1: "int key", "s": 2}, id="non-string key"),
        pytest.param({"colour": Colour.RED, "name": Name("n")}, id="subclasses"),
        pytest.param([[[[[]]]]] * 2, id="nested lists"),
        pytest.param(("tuple", 1), id="tuple"),
        pytest.param({"x": [{"y": None}], "z": 0.5}, id="null beside a float"),
        pytest.param(1e-05, id="a small float alone"),
        pytest.param(-1e-07, id="a smaller float alone"),
        pytest.param(["re-test", 1e-05, "0.00001"], id="small float beside look-alikes"),
    ],
)
def test_canonical_json_edges_are_the_standard_librarys(value: Any) -> None:
    assert canonical_json(value) == reference_bytes(value)


def test_canonical_json_deeper_than_orjson_writes() -> None:
    value: Any = "leaf"
    for _ in range(400):  # orjson stops at 254 levels; the standard library goes on
        value = {"a": [value]}
    assert canonical_json(value) == reference_bytes(value)


@pytest.mark.parametrize(
    "value",
    [
        {"x": math.nan},
        {"x": [None, math.inf]},
        {"x": None, "y": {"z": -math.inf}},
        [None, math.nan],
    ],
)
def test_canonical_json_refuses_non_finite_numbers_even_beside_null(value: Any) -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json(value)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"x": "\ud800"}, UnicodeEncodeError),
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, TypeError),
        ({"set": {1, 2}}, TypeError),
    ],
)
def test_canonical_json_refuses_what_the_standard_library_refuses(
    value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        canonical_json(value)


def test_event_body_is_the_whole_envelope_in_canonical_form() -> None:
    created = datetime(2026, 11, 29, 12, 0, 0, 5000, tzinfo=UTC)
    rng = random.Random(8)
    for cuid in [None, "c1", 'q"uote', "é"]:
        data = {"n": random_value(rng), "f": 0.00001}
        envelope = {
            "id": "evt_1",
            "event": "ReportPublished",
            "createdAt": "2026-11-29T12:00:00.005Z",
            "clientCuid": cuid,
            "data": data,
        }
        body = event_body("evt_1", "ReportPublished", created, cuid, data)
        assert body == reference_bytes(envelope)
    with pytest.raises(UnicodeEncodeError):
        event_body("evt_1", "ReportPublished", created, "\udc80", {})


def test_store_batches_read_back_as_their_rows() -> None:
    rows = [["dlv_1", 1, None, {"Content-Type": "application/json"}, "é \x00 😀"], [2**70, 0.5]]
    assert json.loads(json_text(rows)) == rows
    # orjson refuses a lone surrogate: the standard library writes it, as it always did.
    assert json_text([["\ud800"]]) == json.dumps([["\ud800"]], ensure_ascii=False)


def test_postgres_json_parameters_are_the_standard_librarys_text() -> None:
    headers = {"Content-Type": "application/json", "X-Name": "é \x00 😀", "n": 1}
    assert json_text(headers) == json.dumps(headers, separators=(",", ":"), ensure_ascii=False)
    assert json_text({"x": "\ud800"}) == '{"x":"\ud800"}'


# -- reading: parse_json (msgspec first, the standard library for what it refuses) ---------------


def reference_parse(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"), parse_float=_js_number, parse_constant=_no_constants)


def outcome(parse: Any, raw: bytes) -> tuple[str, str]:
    """What ``parse`` makes of ``raw``: the value's repr (so 1 and 1.0 differ), or the error."""
    try:
        return "value", repr(parse(raw))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


NUMBER_TEXTS = [
    "0",
    "-0",
    "1",
    "-17",
    "1.0",
    "-0.0",
    "0.5",
    "1e2",
    "1E+2",
    "1e-2",
    "2.5e-7",
    "1.5e300",
    "1e999",
    "-1e999",
    "123456789012345678901234567890",
    "18446744073709551616",
    "9007199254740993",
    "9007199254740993.0",
    "1e16",
    "0.1",
    "3.14159265358979323846",
]
STRING_TEXTS = [
    '""',
    '"plain"',
    '"q\\"uote"',
    '"\\u00e9"',
    '"\\ud83d\\ude00"',
    '"\\ud800"',
    '"\\udc00x"',
    '"\\u0000"',
    '"tab\\tnl\\n"',
    '"caf\u00e9 \U0001f600"',
    '"2026-12-07T00:00:00.000Z"',
]
ODD_TEXTS = ["NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "tru", "'x'", "[1,]", "nul"]


def random_text(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(7 if depth < 5 else 4)
    if kind == 0:
        return rng.choice(NUMBER_TEXTS)
    if kind == 1:
        return rng.choice(STRING_TEXTS)
    if kind == 2:
        return rng.choice(["true", "false", "null"])
    if kind == 3:
        return rng.choice(ODD_TEXTS) if rng.random() < 0.05 else rng.choice(NUMBER_TEXTS)
    space = rng.choice(["", " ", "\n\t "])
    items = [random_text(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 4:
        return "[" + ("," + space).join(items) + "]"
    keys = [rng.choice(STRING_TEXTS) for _ in items]  # repeated keys too: the last one wins
    return "{" + ",".join(f"{k}{space}:{space}{v}" for k, v in zip(keys, items, strict=True)) + "}"


def test_parse_json_reads_random_texts_as_the_standard_library_does() -> None:
    rng = random.Random(9)
    fast = 0
    for _ in range(5000):
        raw = ('{"data":' + random_text(rng) + "}").encode("utf-8")
        assert outcome(parse_json, raw) == outcome(reference_parse, raw), raw
        fast += outcome(_DECODER.decode, raw)[0] == "value"
    assert fast > 2500  # most of them were read by msgspec, not by the fallback


@pytest.mark.parametrize(
    "raw",
    [
        b'{"x": NaN}',
        b'{"x": [1, -Infinity]}',
        b'{"x": 1e999}',
        b'{"x": "\\ud800"}',
        b'{"x": "\xff"}',
        b'{"x": "\xed\xa0\x80"}',
        b"\xef\xbb\xbf{}",
        b"\xff\xfe{\x00}\x00",
        b'{"x": 1} {"y": 2}',
        b'{"x": "\x01"}',
        b"",
        b"   ",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_parse_json_answers_the_standard_librarys_value_or_error_for_edges(raw: bytes) -> None:
    assert outcome(parse_json, raw) == outcome(reference_parse, raw)


@pytest.mark.parametrize("depth", [400, 800, 900, 950, 990, 1000, 1100, 5000])
def test_parse_json_nesting_is_refused_where_the_standard_library_refuses_it(depth: int) -> None:
    raw = b'{"a":' * depth + b"1" + b"}" * depth
    assert outcome(parse_json, raw) == outcome(reference_parse, raw)
