"""Events and the exact bytes Hookline sends for them.

The reference for those bytes is the standard library:
``json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`` (what
:mod:`hookline.signing` tells receivers to expect). orjson writes them much faster (the
standard encoder was measured at ~15 % of ``serve``'s event loop under batch ingest), so its
bytes are taken wherever they are provably the standard library's, and the standard library
writes everything else (``tests/unit/test_json_fast_path.py`` compares the two over random
documents).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import msgspec
import orjson

from hookline.domain.times import iso_ms
from hookline.domain.values import value_object

# One encoder for every body (json.dumps with options builds a new one per call).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

# orjson would write these its own way (the standard library refuses them or writes subclasses
# by their base type): with these options it refuses them too, and the standard library
# answers. It also refuses ints past 64 bits, lone surrogates, non-string keys and nesting past
# 254 levels (TypeError each time).
_ORJSON_REFUSES = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

# orjson and repr() write every finite float alike except those below 1e-4 (orjson: 0.00001,
# 1e-7; repr: 1e-05, 1e-07), as found over 500,000 random floats. Where orjson's text holds
# either form (in a number or in a string), the value is written the standard library's way.
# Looked for with find() rather than a regular expression or `b"e-" in text`: both were
# measured slower than orjson's whole encoding of a 500-byte body ('e' is in every word).
_DIGITS = frozenset(b"0123456789")


def _maybe_small_float(text: bytes) -> bool:
    if b"0.0000" in text:
        return True
    dash = text.find(b"-", 2)
    while dash != -1:
        if text[dash - 1] == 0x65 and text[dash - 2] in _DIGITS:  # <digit>e-
            return True
        dash = text.find(b"-", dash + 1)
    return False


def canonical_json(value: Any) -> bytes:
    """Serialise like JavaScript's ``JSON.stringify``: no spaces, non-ASCII kept, UTF-8.

    NaN and infinities raise ValueError (JSON.stringify has no NaN/Infinity: it writes
    ``null``); we refuse them at the door instead of sending something a receiver re-serialises
    differently. A string that is not Unicode (a lone surrogate) raises UnicodeEncodeError.
    """
    text = _finite_json(value)
    # orjson writes NaN and infinities as null, where the standard library refuses them.
    if b"null" in text and _holds_non_finite(value):
        return _stdlib_json(value)
    return text


def _finite_json(value: Any) -> bytes:
    """:func:`canonical_json` of a value known to hold no NaN or infinity (as
    :func:`parse_json` reads them): the search for those, in Python, costs more than the
    standard library's whole encoding of a value holding a null."""
    try:
        text = orjson.dumps(value, option=_ORJSON_REFUSES)
    except TypeError:  # orjson.JSONEncodeError
        return _stdlib_json(value)
    return _stdlib_json(value) if _maybe_small_float(text) else text


def _stdlib_json(value: Any) -> bytes:
    return _CANONICAL.encode(value).encode("utf-8")


def _holds_non_finite(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def _js_number(text: str) -> float | int:
    # JSON.stringify writes 1.0 as 1: keep integral numbers integral so the stored bytes are
    # what JavaScript would send, and what a Python receiver re-serialises from them.
    value = float(text)
    if not math.isfinite(value):  # 1e999: JavaScript reads Infinity and would send null
        raise ValueError(f"number {text[:50]} is out of range")
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _no_constants(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


# msgspec hands each float to the hook as its text, as the standard library's parse_float does
# (orjson would read 1.0 as a float, and telling whether a body holds one was measured to cost
# more than orjson saves).
_DECODER = msgspec.json.Decoder(float_hook=_js_number)


def parse_json(raw: bytes | str) -> Any:
    """Parse a request body as JavaScript would see it (NaN/Infinity refused); bytes must be
    UTF-8.

    Raises ValueError (json.JSONDecodeError and UnicodeDecodeError are ValueErrors) when the
    body is not JSON, RecursionError when it is nested too deeply.

    msgspec reads it first, ~2.3x faster than the standard library on a batch of 500 events
    (and a shorter hold of the GIL, which the SQLite thread waits for). Whatever msgspec
    refuses (NaN and Infinity, a lone surrogate escape, invalid UTF-8, an out-of-range number
    refused by the hook, too deep a nesting, any malformed text) the standard library reads
    again, so a refusal is always the standard library's, with its message; where both read a
    text they read the same value (``tests/unit/test_json_fast_path.py`` compares them over
    random texts).
    """
    try:
        return _DECODER.decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):
        pass
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return json.loads(text, parse_float=_js_number, parse_constant=_no_constants)


_last_stamp: list[Any] = [None, ""]  # the last created_at and its text


def _iso_ms_cached(moment: datetime) -> str:
    # The events of one request share one time, and strftime was measured at 6% of a batch.
    if moment != _last_stamp[0]:
        _last_stamp[0], _last_stamp[1] = moment, iso_ms(moment)
    text: str = _last_stamp[1]
    return text


def event_body(
    event_id: str, event: str, created_at: datetime, client_cuid: str | None, data: Any
) -> bytes:
    """The delivery body, identical on every attempt (contract section 4).

    ``data`` holds finite numbers only, as :func:`parse_json` reads a body (it refuses NaN
    and infinities at the door): they are not looked for again here."""
    envelope = {
        "id": event_id,
        "event": event,
        "createdAt": _iso_ms_cached(created_at),
        "clientCuid": client_cuid,
    }
    try:
        # Strings and null only: orjson's bytes are the standard library's. Kept apart from
        # the data so that the envelope's null does not cost the data a search for NaN.
        head = orjson.dumps(envelope)
    except TypeError:  # a lone surrogate: the standard library raises what it raises
        return canonical_json({**envelope, "data": data})
    return b"".join((head[:-1], b',"data":', _finite_json(data), b"}"))


@value_object
class NewEvent:
    """An accepted event, about to be stored with its deliveries."""

    id: str
    tenant_id: str
    event: str
    client_cuid: str | None
    body: bytes
    created_at: datetime
