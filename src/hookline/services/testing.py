"""The test endpoint: one synchronous attempt, no retries, logged with trigger ``test``."""

from __future__ import annotations

from dataclasses import dataclass

from hookline.delivery.outcome import attempt_log
from hookline.delivery.sender import Attempt, AttemptResult, Sender, delivery_headers
from hookline.domain.deliveries import Trigger
from hookline.domain.events import event_body
from hookline.domain.tenants import Permission, Principal
from hookline.domain.times import Clock, utcnow
from hookline.domain.webhooks import check_fields
from hookline.errors import FieldError, RateLimited, ValidationFailed
from hookline.ids import IdPrefix, new_id
from hookline.services.access import require
from hookline.services.catalog import CatalogService
from hookline.services.ratelimit import RateLimiter
from hookline.services.webhooks import WebhookService
from hookline.store.base import Store

TEST_DATA = {"test": True, "message": "A test delivery from Hookline."}


@dataclass(frozen=True)
class TestRequest:
    """Either a stored webhook, or an ad-hoc URL with optional secret."""

    webhook_id: str | None = None
    url: str | None = None
    secret: str | None = None
    ssl_verification: bool = True
    event: str | None = None


@dataclass(frozen=True)
class TestOutcome:
    """The attempt's result and the id of its log."""

    result: AttemptResult
    log_id: str


class WebhookTester:
    """Runs test attempts through the same sender (and SSRF guard) as real deliveries."""

    def __init__(
        self,
        store: Store,
        webhooks: WebhookService,
        catalog: CatalogService,
        sender: Sender,
        limiter: RateLimiter,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._webhooks = webhooks
        self._catalog = catalog
        self._sender = sender
        self._limiter = limiter
        self._clock = clock

    async def test(self, principal: Principal, request: TestRequest) -> TestOutcome:
        """Send one test event now and log it."""
        require(principal, Permission.MANAGE)
        if not self._limiter.allow(principal.key.id):
            raise RateLimited("too many test requests; wait a little")
        webhook_id, url, secret, ssl_verification, subscribed = await self._target(
            principal, request
        )
        event = await self._event(request.event, subscribed)
        now = self._clock()
        event_id, delivery_id = new_id(IdPrefix.EVENT), new_id(IdPrefix.DELIVERY)
        body = event_body(event_id, event, now, None, TEST_DATA)
        headers = delivery_headers(
            event=event,
            delivery_id=delivery_id,
            attempt=1,
            webhook_id=webhook_id or "",
            secret=secret,
            body=body,
        )
        attempt = Attempt(url, body, headers, ssl_verification)
        sent = self._sender.request_headers(attempt)
        result = await self._sender.send(attempt, sent)
        log = attempt_log(
            tenant_id=principal.tenant.id,
            delivery_id=None,
            webhook_id=webhook_id,
            event_id=event_id,
            event=event,
            client_cuid=None,
            attempt=1,
            trigger=Trigger.TEST,
            url=url,
            request_headers=sent,
            body=body,
            result=result,
            now=self._clock(),
        )
        await self._store.insert_log(log)
        return TestOutcome(result, log.id)

    async def _target(
        self, principal: Principal, request: TestRequest
    ) -> tuple[str | None, str, str | None, bool, tuple[str, ...]]:
        if request.webhook_id is not None:
            webhook = await self._webhooks.get(principal, request.webhook_id)
            # Test time is a check time too (contract 6): what resolved to a public address
            # at create time may not any more, or the allowed networks may have changed.
            await self._webhooks.check_url(webhook.url)
            secret = self._webhooks.open_secret(webhook)
            return webhook.id, webhook.url, secret, webhook.ssl_verification, webhook.events
        if request.url is None:
            raise ValidationFailed.field("webhookId", "give either webhookId or url")
        errors = check_fields(url=request.url, secret=request.secret)
        if errors:
            raise ValidationFailed(details=errors)
        await self._webhooks.check_url(request.url)
        return None, request.url, request.secret, request.ssl_verification, ()

    async def _event(self, requested: str | None, subscribed: tuple[str, ...]) -> str:
        known = await self._catalog.active_names()
        if requested is not None:
            if requested not in known:
                raise ValidationFailed(
                    details=[FieldError("event", f"unknown event {requested[:100]!r}")]
                )
            return requested
        for name in subscribed:
            return name
        return "ReportPublished" if "ReportPublished" in known else min(known, default="Test")
