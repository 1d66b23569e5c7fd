"""From one attempt's result to the delivery's next state and the attempt's log (pure)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from hookline.delivery.retry import Outcome, RetryPolicy, next_delay
from hookline.delivery.sender import AttemptResult
from hookline.domain.deliveries import (
    AttemptLog,
    ClaimedDelivery,
    Completion,
    DeliveryStatus,
    Trigger,
)
from hookline.ids import IdPrefix, new_id

# PostgreSQL's TEXT and JSONB cannot hold U+0000 (SQLite can): a receiver that answers with a
# NUL byte would make the whole completion batch fail on one store and not the other. Logs keep
# what was seen with NUL shown as U+FFFD, the same on both stores.
_NUL, _SHOWN_NUL = "\x00", "\ufffd"


def storable(text: str) -> str:
    """``text`` as both stores can keep it."""
    return text.replace(_NUL, _SHOWN_NUL) if _NUL in text else text


def _storable_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():  # (a loop: any() over a generator costs twice this)
        if _NUL in name or _NUL in value:
            return {storable(k): storable(v) for k, v in headers.items()}
    return headers


def attempt_log(
    *,
    tenant_id: str,
    delivery_id: str | None,
    webhook_id: str | None,
    event_id: str | None,
    event: str,
    client_cuid: str | None,
    attempt: int,
    trigger: Trigger,
    url: str,
    request_headers: dict[str, str],
    body: bytes,
    result: AttemptResult,
    now: datetime,
) -> AttemptLog:
    """The log row of one attempt. Request headers carry the signature, never the secret."""
    return AttemptLog(
        id=new_id(IdPrefix.LOG),
        tenant_id=tenant_id,
        delivery_id=delivery_id,
        webhook_id=webhook_id,
        event_id=event_id,
        event=event,
        client_cuid=client_cuid,
        attempt=attempt,
        trigger=trigger,
        url=url,
        request_headers=_storable_headers(request_headers),
        request_body=storable(body.decode("utf-8", errors="replace")),
        status_code=result.status_code,
        response_headers=_storable_headers(result.response_headers),
        response_body=storable(result.response_body),
        duration_ms=result.duration_ms,
        success=result.success,
        error=None if result.error is None else storable(result.error),
        created_at=now,
    )


def complete(
    claimed: ClaimedDelivery,
    request_headers: dict[str, str],
    result: AttemptResult,
    policy: RetryPolicy,
    rng: random.Random,
    now: datetime,
) -> Completion:
    """Decide what happens next to a delivery after one attempt."""
    attempt = claimed.attempts + 1
    next_at: datetime | None = None
    if result.success:
        status = DeliveryStatus.SUCCEEDED
    else:
        delay = next_delay(
            policy,
            attempt,
            Outcome(
                success=False,
                status_code=result.status_code,
                retry_after=result.retry_after,
                final=result.final,
            ),
            rng,
            now,
        )
        if delay is None:
            status = DeliveryStatus.FAILED
        else:
            status, next_at = DeliveryStatus.PENDING, now + timedelta(seconds=delay)
    log = attempt_log(
        tenant_id=claimed.tenant_id,
        delivery_id=claimed.id,
        webhook_id=claimed.webhook_id,
        event_id=claimed.event_id,
        event=claimed.event,
        client_cuid=claimed.client_cuid,
        attempt=attempt,
        trigger=claimed.trigger,
        url=claimed.url,
        request_headers=request_headers,
        body=claimed.body,
        result=result,
        now=now,
    )
    return Completion(
        delivery_id=claimed.id,
        lease_token=claimed.lease_token,
        status=status,
        attempts=attempt,
        next_attempt_at=next_at,
        last_status_code=result.status_code,
        last_error=log.error,
        log=log,
    )
