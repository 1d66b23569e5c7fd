"""Webhook signatures: HMAC-SHA256 over the exact body bytes, hex encoded.

This module is public API for receivers (standard library only)::

    from hookline.signing import verify

    if not verify(secret, request_body_bytes, request.headers["X-Authorization-HMAC-256"]):
        return 401

Verify over the raw body as received. Re-serialising parsed JSON with
``json.dumps(payload, separators=(",", ":"), ensure_ascii=False)`` reproduces Hookline's bytes,
but the raw body is the safe choice.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Authorization-HMAC-256"


def sign(secret: str | bytes, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of ``body`` keyed with ``secret`` (UTF-8 if text)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` (the header's value) signs ``body``; constant-time.

    Surrounding whitespace and hex case in the header are tolerated; anything else is False.
    """
    if not signature:
        return False
    candidate = signature.strip().lower()
    if len(candidate) != 64:
        return False
    return hmac.compare_digest(
        sign(secret, body).encode("ascii"), candidate.encode("ascii", "replace")
    )
