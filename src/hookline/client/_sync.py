"""The synchronous client, :class:`Hookline`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from hookline.client import _calls
from hookline.client._calls import UNSET, Call, Unset
from hookline.client._core import Core
from hookline.client.models import (
    AttemptLog,
    Delivery,
    DeliveryDetail,
    EventIn,
    EventType,
    Page,
    Published,
    TestResult,
    Webhook,
)

T = TypeVar("T")


class Hookline(Core):
    """A Hookline API client: publish events, manage webhooks, read deliveries and logs.

    ``retries`` extra attempts at most, ``backoff`` seconds before the first (doubling);
    ``transport`` replaces httpx's (tests, proxies). Close it, or use it as a context manager.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = self._configure(
            base_url, api_key, timeout=timeout, retries=retries, backoff=backoff
        )
        self._http = httpx.Client(transport=transport, **settings)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    content=call.body,
                    headers=call.headers,
                )
            except httpx.TransportError as exc:
                delay = self._delay_after_error(call, exc, attempt)
            else:
                answer_delay = self._delay_after_answer(call, response, attempt)
                if answer_delay is None:
                    return self._finish(call, response, attempt)
                delay = answer_delay
            time.sleep(delay)
            attempt += 1

    # -- publishing ----------------------------------------------------------------------------
    def publish(
        self,
        event: str,
        data: Mapping[str, Any] | None = None,
        client_cuid: str | None = None,
        idempotency_key: str | None = None,
    ) -> Published:
        """Publish one event. Without ``idempotency_key`` a fresh one is made; either way every
        retry of this call sends the same key, so the event is published at most once."""
        return self._run(_calls.publish(event, data, client_cuid, idempotency_key))

    def publish_batch(
        self,
        events: Sequence[EventIn | Mapping[str, Any]],
        idempotency_key: str | None = None,
    ) -> list[Published]:
        """Publish up to 1000 events, all or nothing; the answers are in the order sent."""
        return self._run(_calls.publish_batch(events, idempotency_key))

    # -- catalogue and webhooks ----------------------------------------------------------------
    def event_types(self) -> list[EventType]:
        """The event names that may be published and subscribed to."""
        return self._run(_calls.event_types())

    def list_webhooks(
        self,
        enabled: bool | None = None,
        event: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Webhook]:
        """One page of the account's webhooks, oldest first."""
        return self._run(_calls.list_webhooks(enabled, event, cursor, limit))

    def iter_webhooks(
        self, enabled: bool | None = None, event: str | None = None, limit: int | None = None
    ) -> Iterator[Webhook]:
        """Every webhook, following ``next_cursor`` (``limit`` is the page size)."""
        cursor: str | None = None
        while True:
            page = self.list_webhooks(enabled, event, cursor, limit)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_webhook(self, webhook_id: str) -> Webhook:
        """One webhook (NotFoundError if there is none with that id in the account)."""
        return self._run(_calls.get_webhook(webhook_id))

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[str],
        client_cuids: Sequence[str] = (),
        secret: str | None = None,
        ssl_verification: bool = True,
        enabled: bool = True,
    ) -> Webhook:
        """Create a webhook (admin). The URL must pass the SSRF policy (UrlNotAllowed)."""
        call = _calls.create_webhook(
            name, url, events, client_cuids, secret, ssl_verification, enabled
        )
        return self._run(call)

    def update_webhook(
        self,
        webhook_id: str,
        *,
        name: str | Unset = UNSET,
        url: str | Unset = UNSET,
        events: Sequence[str] | Unset = UNSET,
        client_cuids: Sequence[str] | Unset = UNSET,
        secret: str | Unset | None = UNSET,
        ssl_verification: bool | Unset = UNSET,
        enabled: bool | Unset = UNSET,
    ) -> Webhook:
        """Change the given fields only (admin). ``secret=None`` removes the secret;
        ``enabled=False`` cancels the webhook's pending deliveries."""
        changes = {
            "name": name,
            "url": url,
            "events": events,
            "client_cuids": client_cuids,
            "secret": secret,
            "ssl_verification": ssl_verification,
            "enabled": enabled,
        }
        return self._run(_calls.update_webhook(webhook_id, changes))

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook (admin): its pending deliveries are cancelled, its logs stay."""
        self._run(_calls.delete_webhook(webhook_id))

    def webhook_secret(self, webhook_id: str) -> str | None:
        """The webhook's signing secret, None if it is unsigned (admin)."""
        return self._run(_calls.webhook_secret(webhook_id))

    def test_webhook(
        self,
        webhook_id: str | None = None,
        url: str | None = None,
        secret: str | None = None,
        ssl_verification: bool = True,
        event: str | None = None,
    ) -> TestResult:
        """Send one test event now to a stored webhook or to a URL (admin). Retried only if
        it could not be sent. A receiver that fails is ``success`` False, not an error."""
        return self._run(_calls.test_webhook(webhook_id, url, secret, ssl_verification, event))

    # -- logs and deliveries -------------------------------------------------------------------
    def logs(
        self,
        webhook_id: str | None = None,
        event: str | None = None,
        event_id: str | None = None,
        success: bool | None = None,
        trigger: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[AttemptLog]:
        """One page of attempt logs, newest first (naive times are UTC)."""
        call = _calls.logs(
            webhook_id=webhook_id,
            event=event,
            event_id=event_id,
            success=success,
            trigger=trigger,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
        return self._run(call)

    def webhook_logs(
        self,
        webhook_id: str,
        event: str | None = None,
        event_id: str | None = None,
        success: bool | None = None,
        trigger: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[AttemptLog]:
        """One page of one webhook's attempt logs, newest first."""
        call = _calls.webhook_logs(
            webhook_id,
            event=event,
            event_id=event_id,
            success=success,
            trigger=trigger,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
        return self._run(call)

    def deliveries(
        self,
        webhook_id: str | None = None,
        event_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Delivery]:
        """One page of deliveries, newest first."""
        return self._run(_calls.deliveries(webhook_id, event_id, status, cursor, limit))

    def delivery(self, delivery_id: str) -> DeliveryDetail:
        """One delivery with the logs of its attempts."""
        return self._run(_calls.delivery(delivery_id))

    def resend(self, delivery_id: str) -> Delivery:
        """Queue a new delivery of the same event to the same webhook (admin). Retried only
        if it could not be sent (a lost answer is ConnectionFailed: check ``deliveries()``)."""
        return self._run(_calls.resend(delivery_id))
