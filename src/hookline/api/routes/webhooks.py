"""Webhook management: ``/api/internal/webhooks`` (PlexTrac-compatible paths).

Two routers, because order matters: ``collection_router`` holds the literal paths and
``item_router`` the ``/{id}`` ones, which must be mounted after every literal sibling (see
:func:`hookline.api.routes.api_router`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from hookline.api.constraints import LIMIT, NO_CONTROL_QUERY
from hookline.api.deps import Caller, ServicesDep, json_body
from hookline.api.schemas import (
    SecretOut,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
    error_responses,
    location_header,
    request_body_openapi,
)
from hookline.domain.paging import DEFAULT_LIMIT, MAX_LIMIT

WEBHOOKS = "/api/internal/webhooks"
WEBHOOK = WEBHOOKS + "/{id}"

collection_router = APIRouter(tags=["webhooks"])
item_router = APIRouter(tags=["webhooks"])

WebhookId = Annotated[str, Path(alias="id", description="The webhook's id")]


@collection_router.post(
    WEBHOOKS,
    status_code=201,
    responses={
        201: {"headers": location_header("The new webhook's path")},
        **error_responses(400, 401, 403, 413),
    },
    openapi_extra=request_body_openapi(WebhookIn),
)
async def create_webhook(
    services: ServicesDep,
    caller: Caller,
    body: Annotated[WebhookIn, Depends(json_body(WebhookIn))],
    response: Response,
) -> WebhookOut:
    """Create a webhook (admin). The URL must pass the SSRF policy; the secret is stored
    encrypted and never answered here (see ``GET /{id}/secret``)."""
    webhook = await services.webhooks.create(caller, body.to_draft())
    response.headers["Location"] = f"{WEBHOOKS}/{webhook.id}"
    return WebhookOut.of(webhook)


@collection_router.get(WEBHOOKS, responses=error_responses(400, 401, 403))
async def list_webhooks(
    services: ServicesDep,
    caller: Caller,
    enabled: Annotated[bool | None, Query(description="Only enabled (or disabled) ones")] = None,
    event: Annotated[
        str | None, Query(description="Only those subscribed to this event", **NO_CONTROL_QUERY)
    ] = None,
    cursor: Annotated[str | None, Query(description="`nextCursor` of the previous page")] = None,
    limit: Annotated[int, Query(description=f"Page size, 1..{MAX_LIMIT}", **LIMIT)] = DEFAULT_LIMIT,
) -> WebhookList:
    """The account's webhooks, oldest first, a page at a time (admin, viewer)."""
    page = await services.webhooks.list_page(
        caller, enabled=enabled, event=event, cursor=cursor, limit=limit
    )
    return WebhookList(data=[WebhookOut.of(w) for w in page.items], next_cursor=page.next_cursor)


@item_router.get(WEBHOOK, responses=error_responses(401, 403, 404))
async def get_webhook(services: ServicesDep, caller: Caller, webhook_id: WebhookId) -> WebhookOut:
    """One webhook of the account (admin, viewer)."""
    return WebhookOut.of(await services.webhooks.get(caller, webhook_id))


@item_router.patch(
    WEBHOOK,
    responses=error_responses(400, 401, 403, 404, 413),
    openapi_extra=request_body_openapi(WebhookPatch),
)
async def update_webhook(
    services: ServicesDep,
    caller: Caller,
    webhook_id: WebhookId,
    body: Annotated[WebhookPatch, Depends(json_body(WebhookPatch))],
) -> WebhookOut:
    """Change any subset of the fields (admin). ``"secret": null`` makes the webhook unsigned;
    ``"enabled": false`` cancels its pending deliveries."""
    webhook = await services.webhooks.update(caller, webhook_id, body.to_changes())
    return WebhookOut.of(webhook)


@item_router.delete(
    WEBHOOK, status_code=204, response_class=Response, responses=error_responses(401, 403, 404)
)
async def delete_webhook(services: ServicesDep, caller: Caller, webhook_id: WebhookId) -> Response:
    """Delete a webhook (admin): its pending deliveries are cancelled, its logs stay."""
    await services.webhooks.delete(caller, webhook_id)
    return Response(status_code=204)


@item_router.get(WEBHOOK + "/secret", responses=error_responses(401, 403, 404))
async def get_webhook_secret(
    services: ServicesDep, caller: Caller, webhook_id: WebhookId
) -> SecretOut:
    """The signing secret, for configuring the receiver (admin only)."""
    return SecretOut(secret=await services.webhooks.reveal_secret(caller, webhook_id))
