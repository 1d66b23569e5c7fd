"""Events and the exact bytes Hookline sends for them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hookline.domain.times import iso_ms

# One encoder for every body (json.dumps with options builds a new one per call).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    """Serialise like JavaScript's ``JSON.stringify``: no spaces, non-ASCII kept, UTF-8.

    ``allow_nan=False`` because JSON.stringify has no NaN/Infinity (it writes ``null``); we
    refuse them at the door instead of sending something a receiver re-serialises differently.
    """
    return _CANONICAL.encode(value).encode("utf-8")


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


def parse_json(raw: bytes | str) -> Any:
    """Parse a request body as JavaScript would see it (NaN/Infinity refused).

    Raises ValueError (json.JSONDecodeError is one) when the body is not JSON.
    """
    return json.loads(raw, parse_float=_js_number, parse_constant=_no_constants)


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
    """The delivery body, identical on every attempt (contract section 4)."""
    return canonical_json(
        {
            "id": event_id,
            "event": event,
            "createdAt": _iso_ms_cached(created_at),
            "clientCuid": client_cuid,
            "data": data,
        }
    )


@dataclass(frozen=True)
class NewEvent:
    """An accepted event, about to be stored with its deliveries."""

    id: str
    tenant_id: str
    event: str
    client_cuid: str | None
    body: bytes
    created_at: datetime
