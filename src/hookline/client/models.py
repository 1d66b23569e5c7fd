"""What the client answers: frozen dataclasses with snake_case attributes, parsed from the API's
camelCase JSON. Times are aware ``datetime`` objects in UTC; lists are tuples."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class EventIn:
    """One event to publish in a batch (a plain mapping with the same keys works too)."""

    event: str
    data: Mapping[str, Any] | None = None
    client_cuid: str | None = None


@dataclass(frozen=True)
class Published:
    """An accepted event. ``replayed`` is true when the Idempotency-Key had been used before:
    the answer is the first one and nothing new was queued."""

    id: str
    deliveries: int
    replayed: bool = False


@dataclass(frozen=True)
class EventType:
    """An entry of the event catalogue."""

    name: str
    description: str


@dataclass(frozen=True)
class Webhook:
    """A webhook, as answered: never its secret, only whether it has one."""

    id: str
    name: str
    url: str
    events: tuple[str, ...]
    client_cuids: tuple[str, ...]
    ssl_verification: bool
    enabled: bool
    has_secret: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test attempt (logged with trigger ``test`` as ``log_id``)."""

    __test__ = False  # not a pytest test class

    success: bool
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str
    log_id: str


@dataclass(frozen=True)
class AttemptLog:
    """One delivery attempt, as logged."""

    id: str
    delivery_id: str | None
    webhook_id: str | None
    event_id: str | None
    event: str
    client_cuid: str | None
    attempt: int
    trigger: str
    url: str
    request_headers: Mapping[str, str]
    request_body: str
    status_code: int | None
    response_headers: Mapping[str, str]
    response_body: str
    duration_ms: int
    success: bool
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one webhook; ``status`` is ``pending``, ``delivering``,
    ``succeeded``, ``failed`` or ``cancelled``."""

    id: str
    webhook_id: str
    event_id: str
    event: str
    trigger: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeliveryDetail(Delivery):
    """A delivery with the logs of its attempts, in attempt order."""

    logs: tuple[AttemptLog, ...] = field(default=())


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


# -- parsing -----------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (naive times are UTC)."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 time, got {type(value).__name__}")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else parse_time(value)


def parse_webhook(raw: Mapping[str, Any]) -> Webhook:
    return Webhook(
        id=raw["id"],
        name=raw["name"],
        url=raw["url"],
        events=tuple(raw["events"]),
        client_cuids=tuple(raw["clientCuids"]),
        ssl_verification=raw["sslVerification"],
        enabled=raw["enabled"],
        has_secret=raw["hasSecret"],
        created_at=parse_time(raw["createdAt"]),
        updated_at=parse_time(raw["updatedAt"]),
    )


def parse_event_type(raw: Mapping[str, Any]) -> EventType:
    return EventType(name=raw["name"], description=raw.get("description") or "")


def parse_test_result(raw: Mapping[str, Any]) -> TestResult:
    return TestResult(
        success=raw["success"],
        status_code=raw["statusCode"],
        duration_ms=raw["durationMs"],
        error=raw["error"],
        response_body=raw["responseBody"],
        log_id=raw["logId"],
    )


def parse_attempt_log(raw: Mapping[str, Any]) -> AttemptLog:
    return AttemptLog(
        id=raw["id"],
        delivery_id=raw["deliveryId"],
        webhook_id=raw["webhookId"],
        event_id=raw["eventId"],
        event=raw["event"],
        client_cuid=raw["clientCuid"],
        attempt=raw["attempt"],
        trigger=raw["trigger"],
        url=raw["url"],
        request_headers=dict(raw["requestHeaders"]),
        request_body=raw["requestBody"],
        status_code=raw["statusCode"],
        response_headers=dict(raw["responseHeaders"]),
        response_body=raw["responseBody"],
        duration_ms=raw["durationMs"],
        success=raw["success"],
        error=raw["error"],
        created_at=parse_time(raw["createdAt"]),
    )


def _delivery_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": raw["id"],
        "webhook_id": raw["webhookId"],
        "event_id": raw["eventId"],
        "event": raw["event"],
        "trigger": raw["trigger"],
        "status": raw["status"],
        "attempts": raw["attempts"],
        "next_attempt_at": _optional_time(raw["nextAttemptAt"]),
        "last_status_code": raw["lastStatusCode"],
        "last_error": raw["lastError"],
        "created_at": parse_time(raw["createdAt"]),
        "updated_at": parse_time(raw["updatedAt"]),
    }


def parse_delivery(raw: Mapping[str, Any]) -> Delivery:
    return Delivery(**_delivery_fields(raw))


def parse_delivery_detail(raw: Mapping[str, Any]) -> DeliveryDetail:
    logs = tuple(parse_attempt_log(entry) for entry in raw["logs"])
    return DeliveryDetail(**_delivery_fields(raw), logs=logs)


def parse_page(parse: Callable[[Mapping[str, Any]], T]) -> Callable[[Any], Page[T]]:
    """A parser of ``{"data": [...], "nextCursor": ...}`` answers."""

    def parse_page(raw: Any) -> Page[T]:
        return Page(tuple(parse(item) for item in raw["data"]), raw["nextCursor"])

    return parse_page
