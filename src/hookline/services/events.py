"""Publishing: validate events, then store them with their deliveries in one transaction."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import timedelta
from typing import Any

import orjson

from hookline.domain.deliveries import PublishResult
from hookline.domain.events import NewEvent, event_body
from hookline.domain.tenants import Permission, Principal
from hookline.domain.times import Clock, utcnow
from hookline.domain.values import value_object
from hookline.domain.webhooks import CLIENT_CUID_MAX, has_control_chars
from hookline.errors import FieldError, ValidationFailed
from hookline.ids import IdPrefix, new_id
from hookline.services.access import require
from hookline.services.catalog import CatalogService
from hookline.store.base import IdempotencyClaim, Store

IDEMPOTENCY_WINDOW = timedelta(hours=24)
IDEMPOTENCY_KEY_MAX = 255
BATCH_MAX = 1000


@value_object
class EventInput:
    """One event as a publisher sent it, parsed by :func:`hookline.domain.events.parse_json`
    (so ``data`` holds no NaN or infinity: the body is written without looking for them)."""

    event: Any
    client_cuid: Any = None
    data: Any = None


@value_object
class Published:
    """The JSON answer (exactly what was answered the first time, on a replay)."""

    body: str
    replayed: bool
    results: list[PublishResult]


class EventService:
    """Accepts events from publishers."""

    def __init__(self, store: Store, catalog: CatalogService, clock: Clock = utcnow) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock

    async def publish(
        self, principal: Principal, item: EventInput, idempotency_key: str | None = None
    ) -> Published:
        """One event -> ``{"id": ..., "deliveries": N}``."""
        return await self._publish(principal, [item], idempotency_key, batch=False)

    async def publish_batch(
        self, principal: Principal, items: list[EventInput], idempotency_key: str | None = None
    ) -> Published:
        """Up to 1000 events, all or nothing -> ``{"data": [{"id", "deliveries"}, ...]}``."""
        if not items:
            raise ValidationFailed.field("events", "must contain at least one event")
        if len(items) > BATCH_MAX:
            raise ValidationFailed.field("events", f"must contain at most {BATCH_MAX} events")
        return await self._publish(principal, items, idempotency_key, batch=True)

    async def _publish(
        self,
        principal: Principal,
        items: list[EventInput],
        idempotency_key: str | None,
        *,
        batch: bool,
    ) -> Published:
        require(principal, Permission.PUBLISH)
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        known = await self._catalog.active_names()
        errors: list[FieldError] = []
        for index, item in enumerate(items):
            prefix = f"events[{index}]." if batch else ""
            errors += item_problems(item, known, prefix)
        if errors:
            raise ValidationFailed(details=errors)
        now = self._clock()
        events = []
        for index, item in enumerate(items):
            try:
                events.append(self._new_event(principal.tenant.id, item, now))
            except (ValueError, RecursionError):
                # Data no JSON text can carry: NaN or an unpaired surrogate from a Python
                # caller, or nesting deeper than the encoder goes (the API's parser refuses
                # the first two, and reads a few levels deeper than the encoder writes).
                prefix = f"events[{index}]." if batch else ""
                raise ValidationFailed.field(
                    f"{prefix}data",
                    "the event cannot be written as JSON (NaN, Infinity or an unpaired "
                    "surrogate in data or clientCuid, or data nested too deeply)",
                ) from None
        render = render_batch if batch else render_single
        claim = None
        if idempotency_key is not None:
            # Each publish route has its own keys: a key used on /events and then on
            # /events/batch must not replay the other route's answer (found by schemathesis).
            # Single-event keys are stored as given, so keys stored before this stay valid.
            key = BATCH_KEY_PREFIX + idempotency_key if batch else idempotency_key
            claim = IdempotencyClaim(principal.tenant.id, key, now - IDEMPOTENCY_WINDOW, render)
        outcome = await self._store.publish(events, claim, now)
        if outcome.replayed is not None:
            return Published(outcome.replayed, True, [])
        return Published(render(outcome.results), False, outcome.results)

    @staticmethod
    def _new_event(tenant_id: str, item: EventInput, now: Any) -> NewEvent:
        event_id = new_id(IdPrefix.EVENT)
        data = {} if item.data is None else item.data
        return NewEvent(
            id=event_id,
            tenant_id=tenant_id,
            event=item.event,
            client_cuid=item.client_cuid,
            body=event_body(event_id, item.event, now, item.client_cuid, data),
            created_at=now,
        )


def item_problems(item: EventInput, known: AbstractSet[str], prefix: str = "") -> list[FieldError]:
    """What is wrong with one event, field by field."""
    errors: list[FieldError] = []
    if not isinstance(item.event, str) or not item.event:
        errors.append(FieldError(f"{prefix}event", "is required and must be a string"))
    elif has_control_chars(item.event) or item.event not in known:
        errors.append(
            FieldError(f"{prefix}event", f"unknown event {item.event[:100]!r} (see webhookevents)")
        )
    cuid = item.client_cuid
    if cuid is not None and (
        not isinstance(cuid, str)
        or not cuid
        or len(cuid) > CLIENT_CUID_MAX
        or has_control_chars(cuid)
    ):
        errors.append(
            FieldError(
                f"{prefix}clientCuid",
                f"must be null or a string of 1..{CLIENT_CUID_MAX} characters without control "
                "characters",
            )
        )
    if item.data is not None and not isinstance(item.data, dict):
        errors.append(FieldError(f"{prefix}data", "must be a JSON object"))
    return errors


BATCH_KEY_PREFIX = "batch:"


def check_idempotency_key(key: str) -> None:
    """Printable ASCII, 1..255 characters."""
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not all(32 <= ord(c) < 127 for c in key):
        raise ValidationFailed.field(
            "Idempotency-Key",
            f"must be 1..{IDEMPOTENCY_KEY_MAX} printable ASCII characters",
        )


def render_single(results: list[PublishResult]) -> str:
    """The answer to ``POST /events``."""
    (only,) = results
    return orjson.dumps({"id": only.event_id, "deliveries": only.deliveries}).decode()


def render_batch(results: list[PublishResult]) -> str:
    """The answer to ``POST /events/batch``."""
    return orjson.dumps(
        {"data": [{"id": r.event_id, "deliveries": r.deliveries} for r in results]}
    ).decode()
