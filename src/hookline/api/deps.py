"""Typed dependencies: the services, the caller, and a JSON body parsed for that caller.

Routes declare what they need with the ``Annotated`` aliases at the bottom, so the signature
says it: ``services: ServicesDep, caller: Caller, body: Annotated[WebhookIn, JsonBody(...)]``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from hookline.api.errors import field_errors
from hookline.domain.events import parse_json
from hookline.domain.tenants import Principal
from hookline.errors import InvalidJson, ValidationFailed, WebhooksDisabled
from hookline.runtime import Services

M = TypeVar("M", bound=BaseModel)

# Declared for the OpenAPI document (and the "Authorize" button of /docs); the header itself
# is judged by AccountService.authenticate so that the API, UI and CLI agree on it.
bearer_scheme = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="API key",
    description="`Authorization: Bearer <key>`; keys come from `hookline key create`.",
    auto_error=False,
)


async def get_services(request: Request) -> Services:
    """The services this app was created with."""
    return cast(Services, request.app.state.services)


ServicesDep = Annotated[Services, Depends(get_services)]


async def authenticated(
    request: Request,
    services: ServicesDep,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    """The caller behind ``Authorization: Bearer <key>``; 401 if missing, unknown or revoked."""
    return await services.accounts.authenticate(request.headers.get("authorization"))


async def active_caller(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """An authenticated caller whose account is enabled.

    The services check this themselves too (``require``); checking here as well makes every
    ``/api/`` route of a disabled account answer 403 ``webhooks_disabled``, including the
    ones that need no other permission (the catalogue).
    """
    if not principal.tenant.enabled:
        raise WebhooksDisabled()
    return principal


Caller = Annotated[Principal, Depends(active_caller)]


def json_body(model: type[M]) -> Callable[..., Awaitable[M]]:
    """A dependency that parses the request body as a JSON object into ``model``.

    The body is read only after the caller is authenticated, so a caller without a valid key
    learns nothing about its body (401 comes before 400). Routes using this declare their
    body schema with :func:`hookline.api.schemas.request_body_openapi`.
    """

    async def parse(request: Request, _caller: Caller) -> M:
        data = await read_json_object(request)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed(details=field_errors(exc.errors())) from None

    return parse


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; 400 ``invalid_json`` for anything else.

    The media type is checked before the body is read (:func:`check_json_media_type`), then
    the body is parsed (:func:`parse_json_object`).
    """
    check_json_media_type(request.headers.get("content-type"))
    # Bounded: the size limit middleware stops it at 1 MiB.
    return parse_json_object(await request.body())


def check_json_media_type(content_type: str | None) -> None:
    """400 ``invalid_json`` unless the media type is JSON.

    A missing ``Content-Type`` is read as JSON; any other media type than
    ``application/json`` (or ``+json``) is refused with a message saying so (``curl -d`` sends
    ``application/x-www-form-urlencoded`` unless told otherwise).
    """
    if content_type is not None and not _is_json_media_type(content_type):
        raise InvalidJson("Content-Type must be application/json")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object; 400 ``invalid_json`` for anything else.

    Only UTF-8 is accepted, and numbers are read as JavaScript reads them
    (:func:`hookline.domain.events.parse_json`: ``1.0`` is ``1``; ``NaN``, ``Infinity`` and
    out-of-range numbers are refused), so an event's data is stored exactly as a JavaScript
    publisher meant it.
    """
    if not raw.strip():
        raise InvalidJson("request body must be a JSON object")
    try:
        data = parse_json(raw)
        if b"\\u" in raw:
            # json.loads accepts a lone surrogate escape ("\\ud800"), but such a string cannot
            # be encoded as UTF-8: the stores would fail on it with a 500 instead of a 400.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise InvalidJson("request body is nested too deeply") from None
    except UnicodeEncodeError:
        raise InvalidJson("request body has an unpaired surrogate escape (\\udXXX)") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidJson(f"request body is not valid JSON: {_reason(exc)}") from None
    if not isinstance(data, dict):
        raise InvalidJson("request body must be a JSON object")
    return data


def _is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    return str(exc)[:100]
