"""Publishing events: ``POST /api/internal/events`` and ``/events/batch`` (the hot path).

Lean on purpose, and measured: the handlers take only the request and call the functions
behind ``ServicesDep`` and ``Caller`` themselves (FastAPI's dependency solving cost more than
the rest of the route); the body is parsed once (:func:`~hookline.api.deps.read_json_object`,
reading numbers as JavaScript does) and its shape is checked by hand instead of through a
pydantic round trip; the event service checks the values and stores the events with their
deliveries in one transaction; and the answer is the service's JSON text as is, so that a
replay under the same ``Idempotency-Key`` is byte for byte the first answer. The OpenAPI
entries (body, header, security) are declared by hand, from ``EventIn`` and ``BatchIn``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request, Response

from hookline.api.deps import active_caller, authenticated, get_services, read_json_object
from hookline.api.schemas import (
    BatchIn,
    BatchOut,
    EventIn,
    PublishOut,
    error_responses,
    request_body_openapi,
)
from hookline.domain.tenants import Principal
from hookline.errors import FieldError, ValidationFailed
from hookline.metrics import Metrics
from hookline.runtime import Services
from hookline.services.events import BATCH_MAX, IDEMPOTENCY_KEY_MAX, EventInput, Published

EVENTS = "/api/internal/events"

router = APIRouter(tags=["events"])

EVENT_FIELDS = frozenset({"event", "clientCuid", "data"})
REPLAYED_HEADER = "Idempotent-Replayed"

_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Printable ASCII. The same key again within 24 h answers the first answer, "
    "byte for byte, and queues nothing.",
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: stored with its deliveries. A replay carries "
        f"`{REPLAYED_HEADER}: true`."
    },
    **error_responses(400, 401, 403, 413),
}


def _documented(body: type[EventIn | BatchIn]) -> dict[str, Any]:
    """The OpenAPI parts FastAPI would have drawn from dependencies these routes do not use."""
    return {
        **request_body_openapi(body),
        "parameters": [_IDEMPOTENCY_KEY],
        "security": [{"bearer": []}],
    }


@router.post(
    EVENTS,
    status_code=202,
    response_model=PublishOut,
    responses=_ANSWERS,
    openapi_extra=_documented(EventIn),
)
async def publish_event(request: Request) -> Response:
    """Publish one event (publisher, admin): it is stored with one delivery per matching
    webhook before this answers ``{"id": ..., "deliveries": N}``."""
    services, caller = await _caller(request)
    item, errors = event_input(await read_json_object(request))
    if errors:
        raise ValidationFailed(details=errors)
    key = request.headers.get("idempotency-key")
    return _accepted(await services.events.publish(caller, item, key), services.metrics)


@router.post(
    EVENTS + "/batch",
    status_code=202,
    response_model=BatchOut,
    responses=_ANSWERS,
    openapi_extra=_documented(BatchIn),
)
async def publish_batch(request: Request) -> Response:
    """Publish up to 1000 events at once, all or nothing (publisher, admin): one invalid
    event (named as ``events[3].event``) refuses the whole batch and stores nothing."""
    services, caller = await _caller(request)
    items = batch_items(await read_json_object(request))
    key = request.headers.get("idempotency-key")
    return _accepted(await services.events.publish_batch(caller, items, key), services.metrics)


async def _caller(request: Request) -> tuple[Services, Principal]:
    """What ``ServicesDep`` and ``Caller`` give, called directly: 401 before the body is read,
    403 ``webhooks_disabled`` for a disabled account (the role is the service's to judge).

    An accepted caller is remembered for a second (``Services.publishers``): a publisher
    sending many events is looked up once a second, not once an event."""
    services = await get_services(request)
    header = request.headers.get("authorization")
    key = None if header is None else hashlib.sha256(header.encode("utf-8", "replace")).digest()
    cached = None if key is None else services.publishers.get(key.hex())
    if cached is not None:
        return services, cached
    principal = await active_caller(await authenticated(request, services, None))
    if key is not None:
        services.publishers.put(key.hex(), principal)
    return services, principal


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


def _accepted(published: Published, metrics: Metrics) -> Response:
    headers = None
    if published.replayed:
        headers = {REPLAYED_HEADER: "true"}
    else:
        metrics.events_published.inc(len(published.results))
        metrics.deliveries_published.inc(sum(r.deliveries for r in published.results))
    return Response(published.body, status_code=202, media_type="application/json", headers=headers)
