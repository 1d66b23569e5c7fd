"""Publishing events: ``POST /api/internal/events`` and ``/events/batch`` (the hot path).

These routes document the two endpoints in the OpenAPI document (body, header and security
declared by hand, from ``EventIn`` and ``BatchIn``). In the app from
:func:`hookline.api.app.create_app` the requests are answered before FastAPI's routing by
:class:`hookline.api.publishing.RawPublish`; both call :func:`hookline.api.publishing.accept`,
so they answer alike (``tests/api/test_events.py`` runs against both).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hookline.api.deps import get_services
from hookline.api.publishing import EVENTS, REPLAYED_HEADER, accept
from hookline.api.schemas import (
    BatchIn,
    BatchOut,
    EventIn,
    PublishOut,
    error_responses,
    request_body_openapi,
)
from hookline.services.events import IDEMPOTENCY_KEY_MAX

router = APIRouter(tags=["events"])

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
    return await _publish(request, batch=False)


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
    return await _publish(request, batch=True)


async def _publish(request: Request, *, batch: bool) -> Response:
    headers = request.headers
    published = await accept(
        await get_services(request),
        batch=batch,
        authorization=headers.get("authorization"),
        content_type=headers.get("content-type"),
        idempotency_key=headers.get("idempotency-key"),
        read_body=request.body,
    )
    answer_headers = {REPLAYED_HEADER: "true"} if published.replayed else None
    return Response(
        published.body, status_code=202, media_type="application/json", headers=answer_headers
    )
