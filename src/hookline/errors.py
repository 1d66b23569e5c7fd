"""Hookline's one error tree.

Every error a user can cause is a :class:`HooklineError` with a stable ``code`` and an HTTP
``status``; the API, the UI and the CLI render it once, at their edge. Anything that is not a
``HooklineError`` is a bug: the API answers a bare 500 and logs it with context.

::

    HooklineError
    +-- ConfigError            bad setting (process stops with one line)
    +-- StoreUnavailable       the database cannot be reached (503)
    +-- ValidationFailed       400 validation_error, with per-field details
    +-- InvalidJson            400 invalid_json
    +-- UrlNotAllowed          400 url_not_allowed (SSRF policy)
    +-- Unauthenticated        401 unauthorized
    +-- PermissionDenied       403 forbidden
    +-- WebhooksDisabled       403 webhooks_disabled
    +-- NotFound               404 not_found
    +-- Conflict               409 conflict
    +-- PayloadTooLarge        413 payload_too_large
    +-- RateLimited            429 rate_limited

Each class's docstring is its default message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its dotted name (camelCase, as the user wrote it) and why."""

    field: str
    message: str


class HooklineError(Exception):
    """Something went wrong."""

    code: str = "error"
    status: int = 500

    def __init__(self, message: str | None = None, details: list[FieldError] | None = None):
        self.details: list[FieldError] = list(details or [])
        if message is None and self.details:
            first = self.details[0]
            message = f"{first.field}: {first.message}" if first.field else first.message
        self.message = message or (self.__doc__ or self.code).strip()
        super().__init__(self.message)


class ConfigError(HooklineError):
    """Invalid configuration."""

    code = "config_error"


class StoreUnavailable(HooklineError):
    """The database is unreachable."""

    code = "database_unavailable"
    status = 503


class ValidationFailed(HooklineError):
    """The request is invalid."""

    code = "validation_error"
    status = 400

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        """One error on one field."""
        return cls(details=[FieldError(field, message)])


class InvalidJson(HooklineError):
    """The request body is not valid JSON."""

    code = "invalid_json"
    status = 400


class UrlNotAllowed(HooklineError):
    """The URL is not allowed."""

    code = "url_not_allowed"
    status = 400


class Unauthenticated(HooklineError):
    """A valid API key is required (Authorization: Bearer <key>)."""

    code = "unauthorized"
    status = 401


class PermissionDenied(HooklineError):
    """This API key's role may not do that."""

    code = "forbidden"
    status = 403


class WebhooksDisabled(HooklineError):
    """The webhook feature is disabled for this account."""

    code = "webhooks_disabled"
    status = 403


class NotFound(HooklineError):
    """Not found."""

    code = "not_found"
    status = 404


class Conflict(HooklineError):
    """That conflicts with the current state."""

    code = "conflict"
    status = 409


class PayloadTooLarge(HooklineError):
    """The request body is larger than 1 MiB."""

    code = "payload_too_large"
    status = 413


class RateLimited(HooklineError):
    """Too many requests; slow down."""

    code = "rate_limited"
    status = 429
