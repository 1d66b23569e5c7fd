"""JSON text for the stores' parameters: batches read with ``json_each``, JSON/JSONB values.

orjson (measured ~5x the standard library on these rows); what it refuses (a lone surrogate,
an int past 64 bits) goes the standard library's way, to fail or not as it always did. Text,
not bytes: a BLOB is no JSON to SQLite's ``json_each`` (and is JSONB from SQLite 3.45 on), and
asyncpg's json codec takes text.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_text(value: Any) -> str:
    """``value`` as compact JSON text, non-ASCII kept as is."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
