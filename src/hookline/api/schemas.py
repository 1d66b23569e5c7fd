"""What the management API reads and writes: camelCase JSON, one model per shape.

Request models only *shape* the input: strict JSON types, no unknown fields. The rules on the
values (lengths, control characters, duplicates, the catalogue, the SSRF policy) live in
:mod:`hookline.domain.webhooks` and :mod:`hookline.services.webhooks`, so the API, the UI and
the CLI cannot disagree about them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from hookline.api.constraints import (
    ClientCuid,
    ClientCuids,
    EventName,
    EventNames,
    Name,
    Secret,
    Url,
)
from hookline.domain.deliveries import AttemptLog, Delivery, DeliveryStatus, Trigger
from hookline.domain.times import iso_ms
from hookline.domain.webhooks import EventType, Webhook, WebhookChanges, WebhookDraft
from hookline.errors import FieldError, ValidationFailed
from hookline.services.events import BATCH_MAX
from hookline.services.testing import TestRequest

UtcTime = Annotated[
    datetime,
    PlainSerializer(iso_ms, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2026-01-31T12:00:00.000Z"}
    ),
]
"""A time on the wire: ISO 8601 UTC with milliseconds and ``Z``."""


class RequestBody(BaseModel):
    """A JSON object sent by a client: camelCase keys only, strict JSON types, nothing extra."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)


class ResponseBody(BaseModel):
    """A JSON object Hookline answers with, camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# -- webhooks --------------------------------------------------------------------------------
class WebhookIn(RequestBody):
    """The fields of a new webhook (contract section 3)."""

    name: Name
    url: Url
    client_cuids: ClientCuids = []
    events: EventNames
    secret: Secret | None = None
    ssl_verification: bool = True
    enabled: bool = True

    def to_draft(self) -> WebhookDraft:
        """The domain record the webhook service validates and stores."""
        return WebhookDraft(
            name=self.name,
            url=self.url,
            events=tuple(self.events),
            client_cuids=tuple(self.client_cuids),
            secret=self.secret,
            ssl_verification=self.ssl_verification,
            enabled=self.enabled,
        )


class WebhookPatch(RequestBody):
    """Any subset of a webhook's fields. ``"secret": null`` removes the secret; an explicit
    ``null`` for any other field is refused (it would otherwise mean "leave as is")."""

    name: Name | None = None
    url: Url | None = None
    client_cuids: ClientCuids | None = None
    events: EventNames | None = None
    secret: Secret | None = None
    ssl_verification: bool | None = None
    enabled: bool | None = None

    def to_changes(self) -> WebhookChanges:
        """The domain change set; raises ValidationFailed naming every field sent as null."""
        sent = self.model_fields_set
        nulls = [
            FieldError(to_camel(name), "must not be null")
            for name in type(self).model_fields
            if name in sent and name != "secret" and getattr(self, name) is None
        ]
        if nulls:
            raise ValidationFailed(details=nulls)
        return WebhookChanges(
            name=self.name,
            url=self.url,
            events=None if self.events is None else tuple(self.events),
            client_cuids=None if self.client_cuids is None else tuple(self.client_cuids),
            secret=self.secret,
            secret_given="secret" in sent,
            ssl_verification=self.ssl_verification,
            enabled=self.enabled,
        )


class WebhookOut(ResponseBody):
    """A webhook as answered: never its secret, only whether it has one."""

    id: str
    name: str
    url: str
    client_cuids: list[str]
    events: list[str]
    ssl_verification: bool
    enabled: bool
    has_secret: bool
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        """The answer for a stored webhook."""
        return cls(
            id=webhook.id,
            name=webhook.name,
            url=webhook.url,
            client_cuids=list(webhook.client_cuids),
            events=list(webhook.events),
            ssl_verification=webhook.ssl_verification,
            enabled=webhook.enabled,
            has_secret=webhook.has_secret,
            created_at=webhook.created_at,
            updated_at=webhook.updated_at,
        )


class WebhookList(ResponseBody):
    """One page of webhooks; ``nextCursor`` is null on the last page."""

    data: list[WebhookOut]
    next_cursor: str | None


class SecretOut(ResponseBody):
    """A webhook's signing secret, or null when its deliveries are unsigned."""

    secret: str | None


# -- catalogue -------------------------------------------------------------------------------
class EventTypeOut(ResponseBody):
    """An entry of the event catalogue."""

    name: str
    description: str

    @classmethod
    def of(cls, event_type: EventType) -> EventTypeOut:
        """The answer for a catalogue entry."""
        return cls(name=event_type.name, description=event_type.description)


class EventTypeList(ResponseBody):
    """The event names that may be subscribed to."""

    data: list[EventTypeOut]


# -- events ----------------------------------------------------------------------------------
class EventIn(RequestBody):
    """One event to publish. It goes to every enabled webhook of the account subscribed to
    ``event`` whose ``clientCuids`` is empty or contains ``clientCuid``."""

    # Documentation only: the publish routes check this shape by hand (the hot path).

    event: EventName = Field(description="A name from `/api/internal/webhookevents`")
    client_cuid: ClientCuid | None = Field(
        default=None, description="The client the event is about; null = no client"
    )
    data: dict[str, Any] | None = Field(
        default=None, description="Any JSON object; sent to the receivers as is ({} if null)"
    )


class BatchIn(RequestBody):
    """Up to 1000 events, published all or nothing."""

    events: list[EventIn] = Field(min_length=1, max_length=BATCH_MAX)


class PublishOut(ResponseBody):
    """An accepted event: its id and how many deliveries it queued."""

    id: str
    deliveries: int


class BatchOut(ResponseBody):
    """The accepted events of a batch, in the order sent."""

    data: list[PublishOut]


# -- deliveries and logs ---------------------------------------------------------------------
class LogOut(ResponseBody):
    """One attempt, as logged (contract section 4). Request headers show the signature, never
    the secret; ``deliveryId`` is null for a test attempt, ``webhookId`` for a test of a URL."""

    id: str
    delivery_id: str | None
    webhook_id: str | None
    event_id: str | None
    event: str
    client_cuid: str | None
    attempt: int
    trigger: Trigger
    url: str
    request_headers: dict[str, str]
    request_body: str
    status_code: int | None
    response_headers: dict[str, str]
    response_body: str
    duration_ms: int
    success: bool
    error: str | None
    created_at: UtcTime

    @classmethod
    def of(cls, log: AttemptLog) -> LogOut:
        """The answer for a stored attempt log."""
        return cls(
            id=log.id,
            delivery_id=log.delivery_id,
            webhook_id=log.webhook_id,
            event_id=log.event_id,
            event=log.event,
            client_cuid=log.client_cuid,
            attempt=log.attempt,
            trigger=log.trigger,
            url=log.url,
            request_headers=log.request_headers,
            request_body=log.request_body,
            status_code=log.status_code,
            response_headers=log.response_headers,
            response_body=log.response_body,
            duration_ms=log.duration_ms,
            success=log.success,
            error=log.error,
            created_at=log.created_at,
        )


class LogList(ResponseBody):
    """One page of attempt logs, newest first; ``nextCursor`` is null on the last page."""

    data: list[LogOut]
    next_cursor: str | None


class DeliveryOut(ResponseBody):
    """One event on its way to one webhook. ``nextAttemptAt`` is null once it is over."""

    id: str
    webhook_id: str
    event_id: str
    event: str
    trigger: Trigger
    status: DeliveryStatus
    attempts: int
    next_attempt_at: UtcTime | None
    last_status_code: int | None
    last_error: str | None
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def fields_of(cls, delivery: Delivery) -> dict[str, Any]:
        """The answer's fields for a stored delivery."""
        return {
            "id": delivery.id,
            "webhook_id": delivery.webhook_id,
            "event_id": delivery.event_id,
            "event": delivery.event,
            "trigger": delivery.trigger,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "created_at": delivery.created_at,
            "updated_at": delivery.updated_at,
        }

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        """The answer for a stored delivery."""
        return cls(**cls.fields_of(delivery))


class DeliveryDetailOut(DeliveryOut):
    """A delivery and the logs of its attempts, in attempt order."""

    logs: list[LogOut]

    @classmethod
    def with_logs(cls, delivery: Delivery, logs: list[AttemptLog]) -> DeliveryDetailOut:
        """The answer for a delivery and its attempt logs."""
        return cls(**cls.fields_of(delivery), logs=[LogOut.of(log) for log in logs])


class DeliveryList(ResponseBody):
    """One page of deliveries, newest first; ``nextCursor`` is null on the last page."""

    data: list[DeliveryOut]
    next_cursor: str | None


# -- the test endpoint -----------------------------------------------------------------------
class TestIn(RequestBody):
    """What to test: a stored webhook (``webhookId``) or an ad-hoc ``url`` with its optional
    ``secret`` and ``sslVerification``; exactly one of the two. ``event`` defaults to the
    webhook's first subscribed event (``ReportPublished`` for a URL)."""

    webhook_id: str | None = None
    url: Url | None = None
    secret: Secret | None = Field(default=None, description="Only with `url`; null = unsigned")
    ssl_verification: bool | None = Field(
        default=None, description="Only with `url`; true if left out"
    )
    event: EventName | None = None

    def to_request(self) -> TestRequest:
        """The tester's request; raises ValidationFailed unless exactly one target is given."""
        if self.webhook_id is None and self.url is None:
            raise ValidationFailed.field("webhookId", "give webhookId or url")
        if self.webhook_id is not None and self.url is not None:
            raise ValidationFailed.field("url", "give webhookId or url, not both")
        if self.webhook_id is not None:
            extra = [
                FieldError(name, "only with url (a stored webhook uses its own)")
                for name, value in (
                    ("secret", self.secret),
                    ("sslVerification", self.ssl_verification),
                )
                if value is not None
            ]
            if extra:
                raise ValidationFailed(details=extra)
        return TestRequest(
            webhook_id=self.webhook_id,
            url=self.url,
            secret=self.secret,
            ssl_verification=self.ssl_verification is not False,
            event=self.event,
        )


class TestOut(ResponseBody):
    """The outcome of one test attempt (also logged, with trigger ``test``)."""

    success: bool
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str
    log_id: str


# -- health ----------------------------------------------------------------------------------
class HealthOut(ResponseBody):
    """The process is alive."""

    status: str


class ReadinessOut(ResponseBody):
    """Whether the database answers, and which halves of Hookline run in this process."""

    database: str
    engine: str
    service: str


# -- errors ----------------------------------------------------------------------------------
class FieldErrorOut(ResponseBody):
    """One invalid field, named as the client wrote it (``events[0]``, ``limit``)."""

    field: str
    message: str


class ErrorBody(ResponseBody):
    """A stable machine-readable ``code``, a human ``message`` and per-field ``details``."""

    code: str
    message: str
    details: list[FieldErrorOut]


class ErrorOut(ResponseBody):
    """Every error answer has this shape."""

    error: ErrorBody


_ERROR_DESCRIPTIONS = {
    400: "Invalid input (`validation_error`, `invalid_json`, `url_not_allowed`)",
    401: "Missing, unknown or revoked API key (`unauthorized`)",
    403: "Role too low (`forbidden`) or the account is disabled (`webhooks_disabled`)",
    404: "No such object in this account, or no such path (`not_found`)",
    409: "The request conflicts with the current state (`conflict`)",
    413: "Request body over 1 MiB (`payload_too_large`)",
    429: "Too many requests with this key; try again shortly (`rate_limited`)",
}


UNAVAILABLE = 503
UNAVAILABLE_DESCRIPTION = "The database is unavailable; try again (`database_unavailable`)"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    answers: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorOut, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }
    if 401 in answers:
        answers[401]["headers"] = {
            "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}
        }
    return answers


def location_header(description: str) -> dict[str, Any]:
    """The ``headers`` of an answer that points at what it made."""
    return {"Location": {"description": description, "schema": {"type": "string"}}}


def request_body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """The ``requestBody`` of a route that parses its JSON body itself (see ``deps.json_body``).

    Nested models are inlined: pydantic's ``#/$defs/...`` references would point into the
    OpenAPI document's root, where they do not exist.
    """
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inlined(schema, definitions)}},
        }
    }


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inlined(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(item, definitions) for item in node]
    return node
