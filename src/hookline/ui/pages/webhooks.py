"""The webhooks list and one webhook's page, with its actions: toggle, test, reveal, delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.domain.tenants import Permission
from hookline.domain.times import utcnow
from hookline.domain.webhooks import WebhookChanges
from hookline.errors import RateLimited, UrlNotAllowed, ValidationFailed
from hookline.services.access import require
from hookline.services.deliveries import LogQuery
from hookline.services.testing import TestRequest
from hookline.ui.access import Visitor, posted_form, redirect, safe_next, text, visitor
from hookline.ui.render import render, services_of
from hookline.ui.session import Flash

PAGE_SIZE = 25
RECENT_LOGS = 10
FAILED_WINDOW = timedelta(hours=24)
BODY_PREVIEW = 500


def flag(value: str | None, name: str) -> bool | None:
    """A yes/no/any filter: ``true``, ``false`` or empty."""
    if value in (None, ""):
        return None
    if value in ("true", "false"):
        return value == "true"
    raise ValidationFailed.field(name, "must be true or false")


async def webhook_list(request: Request) -> Response:
    """The tenant's webhooks with their latest delivery and recent failures, filtered, paged."""
    who = await visitor(request)
    services = services_of(request)
    params = request.query_params
    filters = {k: params.get(k, "") for k in ("event", "enabled")}
    types = [t.name for t in await services.catalog.list_types()]
    context: dict[str, Any] = {
        "filters": filters,
        "event_names": types if filters["event"] in ("", *types) else [*types, filters["event"]],
        "rows": [],
        "next_cursor": None,
        "cursor": params.get("cursor", ""),
        "error": None,
    }
    try:
        page = await services.webhooks.list_page(
            who.principal,
            enabled=flag(filters["enabled"], "enabled"),
            event=filters["event"] or None,
            cursor=params.get("cursor") or None,
            limit=PAGE_SIZE,
        )
    except ValidationFailed as exc:
        context["error"] = exc.message
        return render(request, "webhooks.html", context, 400)
    activity = await services.store.webhook_activity(
        who.principal.tenant.id, [w.id for w in page.items], utcnow() - FAILED_WINDOW
    )
    context["rows"] = list(zip(page.items, activity, strict=True))
    context["next_cursor"] = page.next_cursor
    return render(request, "webhooks.html", context)


async def detail_page(
    request: Request,
    who: Visitor,
    webhook_id: str,
    *,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """One webhook's page; ``extra`` adds a test result or a revealed secret."""
    services = services_of(request)
    webhook = await services.webhooks.get(who.principal, webhook_id)
    logs = await services.deliveries.logs(
        who.principal, LogQuery(webhook_id=webhook.id, limit=RECENT_LOGS)
    )
    (activity,) = await services.store.webhook_activity(
        who.principal.tenant.id, [webhook.id], utcnow() - FAILED_WINDOW
    )
    context: dict[str, Any] = {
        "webhook": webhook,
        "activity": activity,
        "logs": logs.items,
        "more_logs": logs.next_cursor is not None,
        "names": {webhook.id: webhook.name},
        "test": None,
        "test_error": None,
        "revealed": False,
        "secret": None,
        **(extra or {}),
    }
    return render(request, "webhook.html", context, status)


async def webhook_detail(request: Request) -> Response:
    """``/ui/webhooks/{id}``."""
    who = await visitor(request)
    return await detail_page(request, who, request.path_params["webhook_id"])


async def toggle(request: Request) -> Response:
    """Enable or disable (the form says which: replaying it changes nothing more)."""
    who = await visitor(request)
    form = await posted_form(request, who)
    wanted = flag(text(form, "enabled"), "enabled")
    if wanted is None:
        raise ValidationFailed.field("enabled", "must be true or false")
    webhook = await services_of(request).webhooks.update(
        who.principal, request.path_params["webhook_id"], WebhookChanges(enabled=wanted)
    )
    state = "enabled" if wanted else "disabled; its pending deliveries are cancelled"
    back = safe_next(text(form, "next"), "/ui/webhooks")
    return redirect(request, back, Flash("success", f"\u201c{webhook.name}\u201d is {state}."))


async def test_webhook(request: Request) -> Response:
    """Send one test event now and show the outcome on the webhook's page."""
    who = await visitor(request)
    await posted_form(request, who)
    webhook_id = request.path_params["webhook_id"]
    try:
        outcome = await services_of(request).tester.test(
            who.principal, TestRequest(webhook_id=webhook_id)
        )
    except (RateLimited, UrlNotAllowed, ValidationFailed) as exc:
        return await detail_page(
            request, who, webhook_id, extra={"test_error": exc.message}, status=exc.status
        )
    result = outcome.result
    test = {
        "success": result.success,
        "status_code": result.status_code,
        "duration_ms": result.duration_ms,
        "error": result.error,
        "body": result.response_body[:BODY_PREVIEW],
        "truncated": len(result.response_body) > BODY_PREVIEW,
        "log_id": outcome.log_id,
    }
    return await detail_page(request, who, webhook_id, extra={"test": test})


async def reveal(request: Request) -> Response:
    """Show the signing secret, once, on this page only (admins)."""
    who = await visitor(request)
    await posted_form(request, who)
    webhook_id = request.path_params["webhook_id"]
    secret = await services_of(request).webhooks.reveal_secret(who.principal, webhook_id)
    return await detail_page(request, who, webhook_id, extra={"revealed": True, "secret": secret})


async def delete_page(request: Request) -> Response:
    """The confirmation step before deleting."""
    who = await visitor(request)
    require(who.principal, Permission.MANAGE)
    webhook = await services_of(request).webhooks.get(
        who.principal, request.path_params["webhook_id"]
    )
    return render(request, "webhook_delete.html", {"webhook": webhook})


async def delete(request: Request) -> Response:
    """Delete, then back to the list."""
    who = await visitor(request)
    await posted_form(request, who)
    services = services_of(request)
    webhook = await services.webhooks.get(who.principal, request.path_params["webhook_id"])
    await services.webhooks.delete(who.principal, webhook.id)
    message = f"Deleted \u201c{webhook.name}\u201d. Its delivery logs stay readable under Logs."
    return redirect(request, "/ui/webhooks", Flash("success", message))


ROUTES = [
    Route("/webhooks", webhook_list, methods=["GET"]),
    Route("/webhooks/{webhook_id}", webhook_detail, methods=["GET"]),
    Route("/webhooks/{webhook_id}/toggle", toggle, methods=["POST"]),
    Route("/webhooks/{webhook_id}/test", test_webhook, methods=["POST"]),
    Route("/webhooks/{webhook_id}/reveal", reveal, methods=["POST"]),
    Route("/webhooks/{webhook_id}/delete", delete_page, methods=["GET"]),
    Route("/webhooks/{webhook_id}/delete", delete, methods=["POST"]),
]
