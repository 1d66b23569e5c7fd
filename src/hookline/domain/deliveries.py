"""Deliveries (one event to one webhook), their attempts, and the records the queue moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hookline.domain.values import value_object


class DeliveryStatus(StrEnum):
    """Where a delivery is in its life. ``pending`` and ``delivering`` are the live ones."""

    PENDING = "pending"
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Trigger(StrEnum):
    """Why an attempt happened."""

    EVENT = "event"
    TEST = "test"
    RESEND = "resend"


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one webhook."""

    id: str
    tenant_id: str
    webhook_id: str
    event_id: str
    event: str
    trigger: Trigger
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None  # None once the delivery is over
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@value_object
class ClaimedDelivery:
    """A delivery a worker holds under a lease, with all it needs to send it."""

    id: str
    tenant_id: str
    webhook_id: str
    event_id: str
    event: str
    client_cuid: str | None
    trigger: Trigger
    attempts: int  # attempts made before this one
    lease_token: str
    url: str
    secret_ciphertext: str | None
    ssl_verification: bool
    body: bytes


@value_object
class AttemptLog:
    """One attempt, as logged (contract section 4)."""

    id: str
    tenant_id: str
    delivery_id: str | None  # None for a test attempt
    webhook_id: str | None  # None for a test of an ad-hoc URL
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
    created_at: datetime


@value_object
class Completion:
    """The end of one attempt: the delivery's new state and the attempt's log.

    Applied only while ``lease_token`` still matches: a worker whose lease expired and was
    taken over must not overwrite the new owner's state (its log is still kept).
    """

    delivery_id: str
    lease_token: str
    status: DeliveryStatus  # pending (retry later), succeeded, failed
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    log: AttemptLog


@value_object
class PublishResult:
    """What ``POST /events`` answers for one event."""

    event_id: str
    deliveries: int


@dataclass(frozen=True)
class QueueStats:
    """Queue depth and the age of the oldest due delivery, for /metrics and the status page."""

    live: int  # pending + delivering
    due: int
    oldest_due_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttemptStats:
    """Attempts of a tenant since some moment (the status page)."""

    total: int
    succeeded: int


@dataclass(frozen=True)
class WebhookActivity:
    """A webhook's latest attempt and its recent failures (the webhooks list)."""

    webhook_id: str
    last_attempt_at: datetime | None
    last_success: bool | None
    last_status_code: int | None
    failed_recently: int
