"""The errors the client raises: one class per kind of answer, each carrying the API's code.

::

    HooklineError                  code, message, status (None without an answer), details
    +-- ValidationError            400 validation_error, invalid_json; 413 payload_too_large
    |   +-- UrlNotAllowed          400 url_not_allowed (the SSRF policy refused the URL)
    +-- AuthenticationError        401 unauthorized: missing, unknown or revoked key
    +-- ForbiddenError             403 forbidden: the key's role may not do that
    |   +-- WebhooksDisabled       403 webhooks_disabled: the account is disabled
    +-- NotFoundError              404 not_found (another account's objects too)
    +-- ConflictError              409 conflict; also an Idempotency-Key reused across shapes
    +-- RateLimitedError           429 rate_limited, after the retries (``retry_after``)
    +-- ServerError                5xx, after the retries
    +-- ConnectionFailed           no answer: refused, reset, timed out (after the retries)
    +-- UnexpectedResponse         an answer the API does not document
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One invalid field, named as the API names it (``url``, ``events[0]``)."""

    field: str
    message: str


class HooklineError(Exception):
    """An error answer of the Hookline API, or no answer at all (``status`` None)."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        details: Sequence[FieldError] = (),
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.details: tuple[FieldError, ...] = tuple(details)
        where = f"HTTP {status} " if status is not None else ""
        super().__init__(f"{where}{code}: {message}")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"status={self.status!r}, details={list(self.details)!r})"
        )

    def field_errors(self) -> dict[str, str]:
        """``details`` as ``{field: message}`` (the first message of each field)."""
        errors: dict[str, str] = {}
        for detail in self.details:
            errors.setdefault(detail.field, detail.message)
        return errors


class ValidationError(HooklineError):
    """The request was refused as invalid (400, or 413 for a body over 1 MiB)."""


class UrlNotAllowed(ValidationError):
    """The webhook URL was refused by the SSRF policy or the URL rules."""


class AuthenticationError(HooklineError):
    """No key, or an unknown or revoked one (401)."""


class ForbiddenError(HooklineError):
    """The key is valid but may not do that (403)."""


class WebhooksDisabled(ForbiddenError):
    """The webhook feature is disabled for this account (403 webhooks_disabled)."""


class NotFoundError(HooklineError):
    """No such object in this account, or no such path (404)."""


class ConflictError(HooklineError):
    """The request conflicts with the current state (409)."""


class RateLimitedError(HooklineError):
    """Too many requests with this key (429); ``retry_after`` is in seconds, if answered."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        details: Sequence[FieldError] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, status, details)
        self.retry_after = retry_after


class ServerError(HooklineError):
    """The server failed (5xx), on every attempt."""


class ConnectionFailed(HooklineError):
    """No answer: the connection was refused or lost, or timed out, on every attempt."""


class UnexpectedResponse(HooklineError):
    """The server answered something the API does not document (a proxy in the way?)."""


_BY_CODE: dict[str, type[HooklineError]] = {
    "url_not_allowed": UrlNotAllowed,
    "webhooks_disabled": WebhooksDisabled,
}
_BY_STATUS: dict[int, type[HooklineError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    422: ValidationError,
}


def error_from_answer(status: int, body: Any, retry_after: float | None = None) -> HooklineError:
    """The error for an answer: its envelope's code, message and details when it has one."""
    code, message, details = _envelope(body)
    if code is None:
        code = _phrase(status).lower().replace(" ", "_").replace("-", "_")
    if message is None:
        message = _phrase(status)
    if status == 429:
        return RateLimitedError(code, message, status, details, retry_after)
    if status >= 500:
        return ServerError(code, message, status, details)
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status, HooklineError)
    return cls(code, message, status, details)


def _envelope(body: Any) -> tuple[str | None, str | None, list[FieldError]]:
    """``{"error": {"code", "message", "details"}}``, leniently: a proxy may answer anything."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, []
    code = error.get("code")
    message = error.get("message")
    details = [
        FieldError(str(d.get("field", "")), str(d.get("message", "")))
        for d in error.get("details") or ()
        if isinstance(d, dict)
    ]
    return (
        code if isinstance(code, str) and code else None,
        message if isinstance(message, str) else None,
        details,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
