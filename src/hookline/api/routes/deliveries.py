"""Deliveries: ``/api/internal/deliveries``, one delivery with its attempts, and resending."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from hookline.api.constraints import LIMIT, QUERY_TEXT
from hookline.api.deps import Caller, ServicesDep
from hookline.api.schemas import (
    DeliveryDetailOut,
    DeliveryList,
    DeliveryOut,
    error_responses,
    location_header,
)
from hookline.domain.deliveries import DeliveryStatus
from hookline.domain.paging import DEFAULT_LIMIT, MAX_LIMIT
from hookline.services.deliveries import DeliveryQuery

DELIVERIES = "/api/internal/deliveries"
DELIVERY = DELIVERIES + "/{deliveryId}"

router = APIRouter(tags=["deliveries"])

DeliveryId = Annotated[str, Path(alias="deliveryId", description="The delivery's id")]


@router.get(DELIVERIES, responses=error_responses(400, 401, 403))
async def list_deliveries(
    services: ServicesDep,
    caller: Caller,
    webhook_id: Annotated[
        str | None, Query(alias="webhookId", description="Only those to this webhook", **QUERY_TEXT)
    ] = None,
    event_id: Annotated[
        str | None, Query(alias="eventId", description="Only those of this event", **QUERY_TEXT)
    ] = None,
    status: Annotated[DeliveryStatus | None, Query(description="Only those in this state")] = None,
    cursor: Annotated[str | None, Query(description="`nextCursor` of the previous page")] = None,
    limit: Annotated[int, Query(description=f"Page size, 1..{MAX_LIMIT}", **LIMIT)] = DEFAULT_LIMIT,
) -> DeliveryList:
    """The account's deliveries, newest first, a page at a time (admin, viewer). Those of
    deleted webhooks stay listed."""
    query = DeliveryQuery(
        webhook_id=webhook_id, event_id=event_id, status=status, cursor=cursor, limit=limit
    )
    page = await services.deliveries.deliveries(caller, query)
    return DeliveryList(data=[DeliveryOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@router.get(DELIVERY, responses=error_responses(401, 403, 404))
async def get_delivery(
    services: ServicesDep, caller: Caller, delivery_id: DeliveryId
) -> DeliveryDetailOut:
    """One delivery with the logs of its attempts, in attempt order (admin, viewer)."""
    delivery, logs = await services.deliveries.delivery(caller, delivery_id)
    return DeliveryDetailOut.with_logs(delivery, logs)


@router.post(
    DELIVERY + "/resend",
    status_code=202,
    responses={
        202: {"headers": location_header("The new delivery's path")},
        **error_responses(401, 403, 404, 409),
    },
)
async def resend_delivery(
    services: ServicesDep, caller: Caller, delivery_id: DeliveryId, response: Response
) -> DeliveryOut:
    """Queue a new delivery of the same event to the same webhook, trigger ``resend`` (admin).

    Any delivery may be resent, whatever its state; 409 if its webhook has been deleted or is
    disabled. The answer is the new delivery, ``pending``.
    """
    delivery = await services.deliveries.resend(caller, delivery_id)
    response.headers["Location"] = f"{DELIVERIES}/{delivery.id}"
    return DeliveryOut.of(delivery)
