"""The error envelope: every error leaves the API as one JSON shape, never as a traceback.

``{"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}``

* :class:`~hookline.errors.HooklineError` -> its own status, code, message and details;
* request validation (query and path parameters) -> 400 ``validation_error`` naming the
  parameter, or 400 ``invalid_json`` when the body is not a JSON object;
* Starlette's HTTP errors (unknown path, wrong method, ...) -> their status with a stable code;
* anything else is a bug: :class:`UnexpectedErrors` answers 500 ``internal_error`` and logs it
  with the method and path, never the body or headers (they may hold keys and secrets).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.errors import (
    FieldError,
    HooklineError,
    InvalidJson,
    PayloadTooLarge,
    StoreUnavailable,
    ValidationFailed,
)

log = logging.getLogger("hookline.api")

_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
_NOT_AN_OBJECT = frozenset({"model_type", "model_attributes_type", "dict_type"})
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: PayloadTooLarge.code,
    429: "rate_limited",
}
_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "list_type": "must be an array",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The envelope. 401 answers also say which scheme to use."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": [{"field": d.field, "message": d.message} for d in details],
        }
    }
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=status, headers=all_headers)


def field_name(loc: Sequence[int | str]) -> str:
    """A pydantic location as the client wrote it: ``("body", "events", 0)`` -> ``events[0]``."""
    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic errors as field errors with short, stable messages."""
    return [
        FieldError(field_name(e["loc"]), _FRIENDLY.get(e["type"], str(e["msg"]))) for e in errors
    ]


def loggable_path(path: str) -> str:
    """A request path fit for one log line: control characters escaped, length capped (a
    decoded ``%0a`` would otherwise forge log lines)."""
    return repr(path)[1:-1][:300]


def _is_body_shape_error(error: Mapping[str, Any]) -> bool:
    loc = tuple(error["loc"])
    if error["type"] == "json_invalid":
        return True
    return loc == ("body",) and (error["type"] in _NOT_AN_OBJECT or error["type"] == "missing")


async def _hookline_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HooklineError)
    return hookline_error_response(request, exc)


def hookline_error_response(request: Request, exc: HooklineError) -> JSONResponse:
    """The envelope of one of Hookline's errors (for handlers that catch them themselves)."""
    if isinstance(exc, StoreUnavailable):
        # The detail names files and hosts: for the operator's log, not for API clients.
        log.warning("%s %s: %s", request.method, loggable_path(request.url.path), exc.message)
        return error_response(exc.status, exc.code, "the database is unavailable; try again")
    return error_response(exc.status, exc.code, exc.message, exc.details)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(_is_body_shape_error(e) for e in errors):
        invalid = InvalidJson("request body must be a JSON object")
        return error_response(invalid.status, invalid.code, invalid.message)
    failed = ValidationFailed(details=field_errors(errors))
    return error_response(failed.status, failed.code, failed.message, failed.details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status) or _phrase_code(status)
    if status == 404:
        message = f"no such path: {request.url.path[:200]}"
    elif status == 413:
        message = PayloadTooLarge().message
    else:
        message = exc.detail if isinstance(exc.detail, str) else _phrase(status)
    return error_response(status, code, message, headers=exc.headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _phrase_code(status: int) -> str:
    return _phrase(status).lower().replace(" ", "_").replace("-", "_")


def install_error_handlers(app: FastAPI) -> None:
    """Render Hookline's, FastAPI's and Starlette's errors as the envelope."""
    app.add_exception_handler(HooklineError, _hookline_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


class UnexpectedErrors:
    """Pure ASGI middleware: any exception that escapes the app becomes a logged 500.

    Starlette's own ``Exception`` handler re-raises after answering (so servers log the
    traceback twice and test clients raise); this one answers and stops the exception here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except ClientDisconnect:
            return  # the client hung up mid-request: nobody is left to answer, nothing broke
        except Exception:
            log_internal_error(scope)
            if started:
                raise
            await internal_error(scope, receive, send)


def log_internal_error(scope: Scope) -> None:
    """Log the exception being handled, with the request's method and path only: bodies and
    headers may carry API keys and secrets."""
    path = loggable_path(str(scope.get("path", "")))
    log.exception("internal error on %s %s", scope.get("method"), path)


async def internal_error(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer 500 ``internal_error`` (nothing about the bug itself)."""
    await error_response(500, "internal_error", "internal error")(scope, receive, send)
