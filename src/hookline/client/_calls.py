"""Every API call as data: method, path, query, body, whether it may be sent again, and how
to read its answer. The sync and async clients only differ in how they send a :class:`Call`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote

import httpx

from hookline.client import models
from hookline.client.models import EventIn, Published

T = TypeVar("T")

EVENTS = "/api/internal/events"
WEBHOOKS = "/api/internal/webhooks"
DELIVERIES = "/api/internal/deliveries"
REPLAYED_HEADER = "Idempotent-Replayed"


class Unset(Enum):
    """The type of :data:`UNSET`: "leave this field as it is" in ``update_webhook``."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call. ``replayable``: sending it twice does no harm (GET, DELETE, and publishing
    under an Idempotency-Key), so it is retried after a lost answer or a 5xx/429.
    ``gone_is_done``: a 404 on a retry means an earlier attempt did it (DELETE)."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    replayable: bool = False
    gone_is_done: bool = False


def encode(payload: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities refused (they are not JSON)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _json(parse: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    return lambda response: parse(response.json())


def _nothing(_response: httpx.Response) -> None:
    return None


def _segment(value: str, what: str) -> str:
    """An id as one path segment: escaped, never empty or a dot segment."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError(f"{what} must be a non-empty id, got {value!r}")
    return quote(value, safe="")


def _query(**values: object) -> dict[str, str]:
    """Query parameters without the Nones; booleans as ``true``/``false``, times as ISO 8601."""
    params: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, datetime):
            moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            params[name] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        else:
            params[name] = str(value)
    return params


def _json_call(method: str, path: str, read: Callable[[Any], T], payload: Any) -> Call[T]:
    return Call(
        method,
        path,
        _json(read),
        body=encode(payload),
        headers={"Content-Type": "application/json"},
    )


# -- publishing --------------------------------------------------------------------------------
def _event_object(item: EventIn | Mapping[str, Any], index: int | None = None) -> dict[str, Any]:
    if isinstance(item, EventIn):
        event: dict[str, Any] = {"event": item.event}
        if item.client_cuid is not None:
            event["clientCuid"] = item.client_cuid
        if item.data is not None:
            event["data"] = dict(item.data)
        return event
    if isinstance(item, Mapping):
        event = dict(item)
        if "client_cuid" in event and "clientCuid" not in event:
            event["clientCuid"] = event.pop("client_cuid")
        return event
    where = "event" if index is None else f"events[{index}]"
    raise TypeError(f"{where} must be an EventIn or a mapping, not {type(item).__name__}")


def _publish_call(path: str, payload: Any, key: str | None, read: Callable[..., T]) -> Call[T]:
    return Call(
        "POST",
        path,
        read,
        body=encode(payload),
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()) if key is None else key,
        },
        replayable=True,  # the same key on every attempt: the server publishes once
    )


def _read_published(response: httpx.Response) -> Published:
    raw = response.json()
    replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true"
    return Published(raw["id"], raw["deliveries"], replayed)


def _read_batch(response: httpx.Response) -> list[Published]:
    raw = response.json()
    replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true"
    return [Published(item["id"], item["deliveries"], replayed) for item in raw["data"]]


def publish(
    event: str,
    data: Mapping[str, Any] | None,
    client_cuid: str | None,
    idempotency_key: str | None,
) -> Call[Published]:
    payload = _event_object(EventIn(event, data, client_cuid))
    return _publish_call(EVENTS, payload, idempotency_key, _read_published)


def publish_batch(
    events: Sequence[EventIn | Mapping[str, Any]], idempotency_key: str | None
) -> Call[list[Published]]:
    if isinstance(events, (str, bytes, Mapping)):
        raise TypeError("events must be a sequence of EventIn or mappings")
    payload = {"events": [_event_object(item, i) for i, item in enumerate(events)]}
    return _publish_call(EVENTS + "/batch", payload, idempotency_key, _read_batch)


# -- catalogue and webhooks --------------------------------------------------------------------
def _read_event_types(raw: Any) -> list[models.EventType]:
    return [models.parse_event_type(item) for item in raw["data"]]


def event_types() -> Call[list[models.EventType]]:
    return Call("GET", "/api/internal/webhookevents", _json(_read_event_types), replayable=True)


def list_webhooks(
    enabled: bool | None, event: str | None, cursor: str | None, limit: int | None
) -> Call[models.Page[models.Webhook]]:
    params = _query(enabled=enabled, event=event, cursor=cursor, limit=limit)
    read = _json(models.parse_page(models.parse_webhook))
    return Call("GET", WEBHOOKS, read, params=params, replayable=True)


def get_webhook(webhook_id: str) -> Call[models.Webhook]:
    path = f"{WEBHOOKS}/{_segment(webhook_id, 'webhook_id')}"
    return Call("GET", path, _json(models.parse_webhook), replayable=True)


def create_webhook(
    name: str,
    url: str,
    events: Sequence[str],
    client_cuids: Sequence[str],
    secret: str | None,
    ssl_verification: bool,
    enabled: bool,
) -> Call[models.Webhook]:
    payload = {
        "name": name,
        "url": url,
        "events": list(events),
        "clientCuids": list(client_cuids),
        "secret": secret,
        "sslVerification": ssl_verification,
        "enabled": enabled,
    }
    return _json_call("POST", WEBHOOKS, models.parse_webhook, payload)


def update_webhook(webhook_id: str, changes: Mapping[str, Any]) -> Call[models.Webhook]:
    """``changes``: snake_case field names; UNSET values are left out, ``secret=None`` sent."""
    names = {"client_cuids": "clientCuids", "ssl_verification": "sslVerification"}
    payload: dict[str, Any] = {}
    for name, value in changes.items():
        if value is UNSET:
            continue
        is_list = name in ("events", "client_cuids") and not isinstance(value, str)
        payload[names.get(name, name)] = list(value) if is_list else value
    path = f"{WEBHOOKS}/{_segment(webhook_id, 'webhook_id')}"
    return _json_call("PATCH", path, models.parse_webhook, payload)


def delete_webhook(webhook_id: str) -> Call[None]:
    path = f"{WEBHOOKS}/{_segment(webhook_id, 'webhook_id')}"
    return Call("DELETE", path, _nothing, replayable=True, gone_is_done=True)


def _read_secret(raw: Any) -> str | None:
    secret = raw["secret"]
    if secret is not None and not isinstance(secret, str):
        raise TypeError("secret must be a string or null")
    return secret


def webhook_secret(webhook_id: str) -> Call[str | None]:
    path = f"{WEBHOOKS}/{_segment(webhook_id, 'webhook_id')}/secret"
    return Call("GET", path, _json(_read_secret), replayable=True)


def test_webhook(
    webhook_id: str | None,
    url: str | None,
    secret: str | None,
    ssl_verification: bool,
    event: str | None,
) -> Call[models.TestResult]:
    """Only what was given is sent, so the server can refuse a contradiction (webhookId with
    a secret, neither webhookId nor url, ...) with its own message."""
    payload: dict[str, Any] = {}
    if webhook_id is not None:
        payload["webhookId"] = webhook_id
    if url is not None:
        payload["url"] = url
    if secret is not None:
        payload["secret"] = secret
    if url is not None or not ssl_verification:
        payload["sslVerification"] = ssl_verification
    if event is not None:
        payload["event"] = event
    return _json_call("POST", WEBHOOKS + "/test", models.parse_test_result, payload)


# -- logs and deliveries -----------------------------------------------------------------------
def logs(path: str = WEBHOOKS + "/logs", **filters: object) -> Call[models.Page[models.AttemptLog]]:
    names = {"webhook_id": "webhookId", "event_id": "eventId"}
    params = _query(**{names.get(name, name): value for name, value in filters.items()})
    read = _json(models.parse_page(models.parse_attempt_log))
    return Call("GET", path, read, params=params, replayable=True)


def webhook_logs(webhook_id: str, **filters: object) -> Call[models.Page[models.AttemptLog]]:
    return logs(f"{WEBHOOKS}/{_segment(webhook_id, 'webhook_id')}/logs", **filters)


def deliveries(
    webhook_id: str | None,
    event_id: str | None,
    status: str | None,
    cursor: str | None,
    limit: int | None,
) -> Call[models.Page[models.Delivery]]:
    params = _query(
        webhookId=webhook_id, eventId=event_id, status=status, cursor=cursor, limit=limit
    )
    read = _json(models.parse_page(models.parse_delivery))
    return Call("GET", DELIVERIES, read, params=params, replayable=True)


def delivery(delivery_id: str) -> Call[models.DeliveryDetail]:
    path = f"{DELIVERIES}/{_segment(delivery_id, 'delivery_id')}"
    return Call("GET", path, _json(models.parse_delivery_detail), replayable=True)


def resend(delivery_id: str) -> Call[models.Delivery]:
    path = f"{DELIVERIES}/{_segment(delivery_id, 'delivery_id')}/resend"
    return Call("POST", path, _json(models.parse_delivery))
