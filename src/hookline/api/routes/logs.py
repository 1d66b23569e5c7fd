"""Attempt logs: ``/api/internal/webhooks/logs`` and ``/api/internal/webhooks/{id}/logs``.

``/webhooks/logs`` is a literal sibling of ``/webhooks/{id}``: this router is mounted above
the webhook item routes (see :func:`hookline.api.routes.api_router`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from hookline.api.constraints import LIMIT, QUERY_TEXT
from hookline.api.deps import Caller, ServicesDep
from hookline.api.schemas import LogList, LogOut, error_responses
from hookline.domain.deliveries import AttemptLog, Trigger
from hookline.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from hookline.errors import FieldError, ValidationFailed
from hookline.services.deliveries import LogQuery

LOGS = "/api/internal/webhooks/logs"
WEBHOOK_LOGS = "/api/internal/webhooks/{id}/logs"

router = APIRouter(tags=["logs"])

_TIME_HELP = "ISO 8601, e.g. `2026-01-31T12:00:00Z` (UTC if no offset is given); inclusive"
# Documented as date-time, taken as text: _time reads it, to name the parameter on error.
_TIME: dict[str, Any] = {"json_schema_extra": {"format": "date-time"}}


async def log_query(
    webhook_id: Annotated[
        str | None,
        Query(alias="webhookId", description="Only attempts to this webhook", **QUERY_TEXT),
    ] = None,
    event: Annotated[
        str | None, Query(description="Only attempts of this event name", **QUERY_TEXT)
    ] = None,
    event_id: Annotated[
        str | None, Query(alias="eventId", description="Only attempts of this event", **QUERY_TEXT)
    ] = None,
    success: Annotated[bool | None, Query(description="Only successful (or failed) ones")] = None,
    trigger: Annotated[Trigger | None, Query(description="Only attempts of this kind")] = None,
    since: Annotated[
        str | None, Query(description=f"Made at or after; {_TIME_HELP}", **_TIME)
    ] = None,
    until: Annotated[
        str | None, Query(description=f"Made at or before; {_TIME_HELP}", **_TIME)
    ] = None,
    cursor: Annotated[str | None, Query(description="`nextCursor` of the previous page")] = None,
    limit: Annotated[int, Query(description=f"Page size, 1..{MAX_LIMIT}", **LIMIT)] = DEFAULT_LIMIT,
) -> LogQuery:
    """The log filters of both routes, with ``since``/``until`` read as times."""
    errors: list[FieldError] = []
    start = _time(since, "since", errors)
    end = _time(until, "until", errors)
    if start is not None and end is not None and end < start:
        errors.append(FieldError("until", "must not be before since"))
    if errors:
        raise ValidationFailed(details=errors)
    return LogQuery(
        webhook_id=webhook_id,
        event=event,
        event_id=event_id,
        success=success,
        trigger=trigger,
        since=start,
        until=end,
        cursor=cursor,
        limit=limit,
    )


LogFilters = Annotated[LogQuery, Depends(log_query)]


@router.get(LOGS, responses=error_responses(400, 401, 403))
async def list_logs(services: ServicesDep, caller: Caller, query: LogFilters) -> LogList:
    """Attempt logs of the account, newest first, a page at a time (admin, viewer). Logs of
    deleted webhooks stay readable here (``?webhookId=``)."""
    return _answer(await services.deliveries.logs(caller, query))


@router.get(WEBHOOK_LOGS, responses=error_responses(400, 401, 403, 404))
async def list_webhook_logs(
    services: ServicesDep,
    caller: Caller,
    webhook_id: Annotated[str, Path(alias="id", description="The webhook's id")],
    query: LogFilters,
) -> LogList:
    """Attempt logs of one webhook of the account, newest first (admin, viewer); 404 if there
    is no such webhook. The same filters as ``/webhooks/logs``; a ``webhookId`` naming another
    webhook contradicts the path (400)."""
    webhook = await services.webhooks.get(caller, webhook_id)
    if query.webhook_id not in (None, webhook.id):
        raise ValidationFailed.field("webhookId", "must be this webhook's id, or left out")
    page = await services.deliveries.logs(caller, replace(query, webhook_id=webhook.id))
    return _answer(page)


def _answer(page: Page[AttemptLog]) -> LogList:
    return LogList(data=[LogOut.of(log) for log in page.items], next_cursor=page.next_cursor)


def _time(value: str | None, name: str, errors: list[FieldError]) -> datetime | None:
    """An ISO 8601 query value as an aware UTC time (``Z`` accepted; no offset means UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved past the edge
        errors.append(FieldError(name, "must be an ISO 8601 time such as 2026-01-31T12:00:00Z"))
        return None
