"""Publishing events, the hot path: one request in, :class:`Published` out, no framework.

Both ways in call :func:`accept`: the raw ASGI endpoint (:class:`RawPublish`, called ahead of
FastAPI by :class:`hookline.api.app.HooklineApp`, which answers every
``POST /api/internal/events[/batch]`` in production) and the FastAPI routes of
:mod:`hookline.api.routes.events` (which document the endpoints in the OpenAPI document and
answer only when the raw endpoint is not mounted). So the checks, their order and their errors
are one piece of code: 401/403 before the body is read, 400 ``invalid_json`` for a body that is
not a JSON object, 400 ``validation_error`` naming each field, and the service's JSON text as
the answer, so that a replay under the same ``Idempotency-Key`` is byte for byte the first.

Why raw: measured, FastAPI's middleware stack and routing took more of the serve process than
the route itself did. The raw endpoint answers 413 and 500 itself, as the app's middlewares
(``RequestSizeLimit``, ``UnexpectedErrors``) do for every other route.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hookline.api.deps import check_json_media_type, parse_json_object
from hookline.api.errors import hookline_error_response, internal_error, log_internal_error
from hookline.api.limits import length_of, too_large
from hookline.domain.tenants import Principal
from hookline.errors import FieldError, HooklineError, ValidationFailed, WebhooksDisabled
from hookline.runtime import Services
from hookline.services.events import BATCH_MAX, EventInput, Published

EVENTS = "/api/internal/events"
BATCH = EVENTS + "/batch"
RAW_PATHS = frozenset({EVENTS, BATCH})  # answered by RawPublish, to POST
EVENT_FIELDS = frozenset({"event", "clientCuid", "data"})
REPLAYED_HEADER = "Idempotent-Replayed"

_JSON = b"application/json"
_REPLAYED = (REPLAYED_HEADER.lower().encode("ascii"), b"true")


async def accept(
    services: Services,
    *,
    batch: bool,
    authorization: str | None,
    content_type: str | None,
    idempotency_key: str | None,
    read_body: Callable[[], Awaitable[bytes]],
) -> Published:
    """Check the caller, read and check the body, publish; HooklineError for every refusal."""
    caller = await caller_for(services, authorization)
    check_json_media_type(content_type)
    raw = await read_body()
    # From here until the answer, this publish counts as pressing on the process (and its
    # delivery engine gives way while enough do); a body still arriving does not.
    pressure = services.pressure
    pressure.begin()
    weighed = stored = 0
    try:
        body = parse_json_object(raw)
        if batch:
            items = batch_items(body)
            pressure.weigh(weighed := len(items))
            published = await services.events.publish_batch(caller, items, idempotency_key)
        else:
            item, errors = event_input(body)
            if errors:
                raise ValidationFailed(details=errors)
            published = await services.events.publish(caller, item, idempotency_key)
        stored = 0 if published.replayed else len(published.results)
    finally:
        pressure.end(stored=stored > 0, weighed=weighed)
    if not published.replayed:
        services.metrics.events_published.inc(len(published.results))
        services.metrics.deliveries_published.inc(sum(r.deliveries for r in published.results))
    return published


async def caller_for(services: Services, authorization: str | None) -> Principal:
    """The caller: 401 if the key is missing, unknown or revoked, 403 ``webhooks_disabled`` for
    a disabled account (the role is the service's to judge).

    An accepted caller is remembered for a second (``Services.publishers``): a publisher
    sending many events is looked up once a second, not once an event."""
    key = None
    if authorization is not None:
        key = hashlib.sha256(authorization.encode("utf-8", "replace")).hexdigest()
        cached = services.publishers.get(key)
        if cached is not None:
            return cached
    principal = await services.accounts.authenticate(authorization)
    if not principal.tenant.enabled:
        raise WebhooksDisabled()
    if key is not None:
        services.publishers.put(key, principal)
    return principal


def event_input(body: dict[str, Any], prefix: str = "") -> tuple[EventInput, list[FieldError]]:
    """One event object as the service's input, and its unknown fields as errors.

    The values are the service's to judge (:func:`hookline.services.events.item_problems`).
    """
    unknown = [
        FieldError(prefix + name, "unknown field") for name in body if name not in EVENT_FIELDS
    ]
    return EventInput(body.get("event"), body.get("clientCuid"), body.get("data")), unknown


def batch_items(body: dict[str, Any]) -> list[EventInput]:
    """The events of a batch body; ValidationFailed naming every field of the wrong shape."""
    errors = [FieldError(name, "unknown field") for name in body if name != "events"]
    raw = body.get("events")
    if raw is None:
        errors.append(FieldError("events", "is required"))
    elif not isinstance(raw, list):
        errors.append(FieldError("events", "must be an array"))
    elif len(raw) > BATCH_MAX:  # before looking at each of them
        raise ValidationFailed.field("events", f"must contain at most {BATCH_MAX} events")
    items: list[EventInput] = []
    for index, entry in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(entry, dict):
            errors.append(FieldError(f"events[{index}]", "must be an object"))
            continue
        item, unknown = event_input(entry, f"events[{index}].")
        items.append(item)
        errors += unknown
    if errors:
        raise ValidationFailed(details=errors)
    return items


class RawPublish:
    """The ASGI endpoint of ``POST /api/internal/events[/batch]``, called by
    :class:`hookline.api.app.HooklineApp` ahead of FastAPI's middleware stack.

    So it does itself what that stack does for every other route: 413 for a body over
    ``max_body`` (a declared length before anything runs, a streamed body as it is read), 500
    ``internal_error`` for a bug (logged with the method and path only), and nothing at all
    for a client that hung up.
    """

    def __init__(self, services: Services, max_body: int) -> None:
        self.services = services
        self.max_body = max_body

    @staticmethod
    def handles(scope: Scope) -> bool:
        """A request of this endpoint's (not one with a ``root_path``: that goes to FastAPI)."""
        return (
            scope["type"] == "http"
            and scope.get("path") in RAW_PATHS
            and scope["method"] == "POST"
            and not scope.get("root_path")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The answer is worked out first and sent after, so every failure comes before a
        # response has started, and no wrapper has to watch ``send`` to know.
        try:
            answer = await self._answer(scope, receive)
        except ClientDisconnect:
            return  # nobody is left to answer, nothing broke
        except _BodyTooLarge:
            await too_large(scope, receive, send)
            return
        except Exception:
            log_internal_error(scope)
            await internal_error(scope, receive, send)
            return
        if isinstance(answer, Published):
            await _accepted(answer, send)
        else:
            await answer(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Published | Response:
        """What was published, or the error's answer (a HooklineError's, as on every route)."""
        authorization = content_type = idempotency_key = length = None
        # Starlette's Headers.get: the first of repeated names, decoded as latin-1.
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"content-type":
                if content_type is None:
                    content_type = value.decode("latin-1")
            elif name == b"content-length":
                if length is None:
                    length = value.decode("latin-1")
            elif name == b"idempotency-key" and idempotency_key is None:
                idempotency_key = value.decode("latin-1")
        if length_of(length or "") > self.max_body:
            raise _BodyTooLarge()
        limit = self.max_body

        async def read_body() -> bytes:
            chunks = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _BodyTooLarge()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)

        try:
            published = await accept(
                self.services,
                batch=scope["path"] == BATCH,
                authorization=authorization,
                content_type=content_type,
                idempotency_key=idempotency_key,
                read_body=read_body,
            )
        except HooklineError as exc:
            return hookline_error_response(Request(scope), exc)
        return published


async def _accepted(published: Published, send: Send) -> None:
    """The 202, with the service's JSON text as it is (byte for byte on a replay)."""
    body = published.body.encode("utf-8")
    headers = [(b"content-length", str(len(body)).encode("ascii")), (b"content-type", _JSON)]
    if published.replayed:
        headers.insert(0, _REPLAYED)
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    """The request body is over the limit (answered 413 by :class:`RawPublish`)."""
