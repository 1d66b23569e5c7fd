"""The request body limit: 1 MiB, refused with 413 ``payload_too_large``.

Shared by :class:`hookline.api.app.RequestSizeLimit` (every route of the app) and
:class:`hookline.api.publishing.RawPublish` (the publish endpoint, answered ahead of it).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from hookline.api.errors import error_response
from hookline.errors import PayloadTooLarge

MAX_BODY_BYTES = 1024 * 1024


def declared_length(scope: Scope) -> int:
    """The request's ``Content-Length``, 0 when absent or malformed."""
    return length_of(Headers(scope=scope).get("content-length", ""))


def length_of(value: str) -> int:
    """A ``Content-Length`` header's value as a number, 0 when empty or malformed."""
    # A malformed length is the server's to refuse (h11/httptools do); here it only means
    # "unknown", and the bytes are counted instead.
    return int(value) if value.isascii() and value.isdigit() else 0


async def too_large(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer 413 and ask the client to stop sending: the rest of the body is not read."""
    error = PayloadTooLarge()
    response = error_response(
        error.status, error.code, error.message, headers={"Connection": "close"}
    )
    await response(scope, receive, send)
