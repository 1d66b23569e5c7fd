"""The event catalogue, read-only over the API (the CLI manages it)."""

from __future__ import annotations

from fastapi import APIRouter

from hookline.api.deps import Caller, ServicesDep
from hookline.api.schemas import EventTypeList, EventTypeOut, error_responses

router = APIRouter(tags=["events"])


@router.get("/api/internal/webhookevents", responses=error_responses(401, 403))
async def list_event_types(services: ServicesDep, _caller: Caller) -> EventTypeList:
    """The event names a webhook may subscribe to.

    Any role may read it, publishers included: they need the names they may publish, and the
    catalogue holds nothing per-account. A disabled account still gets 403 webhooks_disabled.
    """
    types = await services.catalog.list_types()
    return EventTypeList(data=[EventTypeOut.of(t) for t in types])
