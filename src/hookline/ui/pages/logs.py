"""Attempt logs: the filtered list, one attempt's page, and resending a delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.domain.deliveries import AttemptLog, Trigger
from hookline.domain.paging import MAX_LIMIT
from hookline.domain.tenants import Principal
from hookline.errors import Conflict, FieldError, NotFound, ValidationFailed
from hookline.services.deliveries import LogQuery
from hookline.ui.access import posted_form, redirect, safe_next, text, visitor
from hookline.ui.pages.webhooks import flag
from hookline.ui.render import render, services_of
from hookline.ui.session import Flash

PAGE_SIZE = 50
FILTERS = ("webhook_id", "event", "success", "trigger", "since", "until")
MAX_TZ_MINUTES = 14 * 60


def local_time(value: str, tz: str, name: str, errors: list[FieldError]) -> datetime | None:
    """A time typed in the browser (``datetime-local``, so without an offset) as UTC. ``tz``
    is the browser's offset in minutes east of UTC, sent by the page's script; without it, or
    when the value has its own offset, that is used (no offset and no ``tz``: UTC)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            minutes = int(tz) if tz.lstrip("-").isdigit() else 0
            if abs(minutes) > MAX_TZ_MINUTES:
                minutes = 0
            moment = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        errors.append(FieldError(name, "must be a date and time such as 2026-01-31T12:00"))
        return None


def log_query(params: dict[str, str], cursor: str | None) -> LogQuery:
    """The filters of the logs page as the delivery service's query; ValidationFailed names
    every filter it cannot read."""
    errors: list[FieldError] = []
    since = local_time(params["since"], params["tz"], "since", errors)
    until = local_time(params["until"], params["tz"], "until", errors)
    if since is not None and until is not None and until < since:
        errors.append(FieldError("until", "must not be before since"))
    trigger = None
    if params["trigger"]:
        try:
            trigger = Trigger(params["trigger"])
        except ValueError:
            errors.append(FieldError("trigger", "must be event, test or resend"))
    success = None
    try:
        success = flag(params["success"], "success")
    except ValidationFailed as exc:
        errors += exc.details
    if errors:
        raise ValidationFailed(details=errors)
    return LogQuery(
        webhook_id=params["webhook_id"] or None,
        event=params["event"] or None,
        success=success,
        trigger=trigger,
        since=since,
        until=until,
        cursor=cursor,
        limit=PAGE_SIZE,
    )


async def webhook_names(
    request: Request, principal: Principal, logs: list[AttemptLog]
) -> dict[str, str]:
    """The names of the webhooks the tenant has (first page), plus any in ``logs``; a
    deleted webhook has none."""
    webhooks = services_of(request).webhooks
    page = await webhooks.list_page(principal, limit=MAX_LIMIT)
    names = {w.id: w.name for w in page.items}
    for log in logs:
        if log.webhook_id and log.webhook_id not in names:
            try:
                names[log.webhook_id] = (await webhooks.get(principal, log.webhook_id)).name
            except NotFound:
                continue
    return names


async def log_list(request: Request) -> Response:
    """Attempts across all webhooks (or one), newest first, filtered, paged."""
    who = await visitor(request)
    services = services_of(request)
    params = {k: request.query_params.get(k, "") for k in (*FILTERS, "tz")}
    cursor = request.query_params.get("cursor") or None
    types = [t.name for t in await services.catalog.list_types()]
    context: dict[str, Any] = {
        "filters": params,
        "event_names": types if params["event"] in ("", *types) else [*types, params["event"]],
        "triggers": [t.value for t in Trigger],
        "logs": [],
        "next_cursor": None,
        "cursor": cursor or "",
        "error": None,
        "filtered": any(params[k] for k in FILTERS),
    }
    status = 200
    try:
        page = await services.deliveries.logs(who.principal, log_query(params, cursor))
        context["logs"], context["next_cursor"] = page.items, page.next_cursor
    except ValidationFailed as exc:
        context["error"] = "; ".join(f"{d.field}: {d.message}" for d in exc.details) or exc.message
        status = 400
    context["names"] = await webhook_names(request, who.principal, context["logs"])
    return render(request, "logs.html", context, status)


async def log_detail(request: Request) -> Response:
    """One attempt: what was sent and what came back."""
    who = await visitor(request)
    services = services_of(request)
    log = await services.deliveries.log(who.principal, request.path_params["log_id"])
    webhook = None
    if log.webhook_id is not None:
        try:
            webhook = await services.webhooks.get(who.principal, log.webhook_id)
        except NotFound:
            webhook = None
    return render(request, "log.html", {"log": log, "webhook": webhook})


async def resend(request: Request) -> Response:
    """Queue the delivery again (a new delivery, trigger ``resend``), then go back."""
    who = await visitor(request)
    form = await posted_form(request, who)
    back = safe_next(text(form, "next"), "/ui/logs")
    try:
        delivery = await services_of(request).deliveries.resend(
            who.principal, request.path_params["delivery_id"]
        )
    except Conflict as exc:
        return redirect(request, back, Flash("error", f"Not resent: {exc.message}."))
    message = f"Resend queued as delivery {delivery.id}; its attempt will appear under Logs."
    return redirect(request, back, Flash("success", message))


ROUTES = [
    Route("/logs", log_list, methods=["GET"]),
    Route("/logs/{log_id}", log_detail, methods=["GET"]),
    Route("/deliveries/{delivery_id}/resend", resend, methods=["POST"]),
]
