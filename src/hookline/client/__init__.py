"""A Python client for the Hookline API: publish events, manage webhooks, read logs.

::

    from hookline.client import Hookline, UrlNotAllowed

    with Hookline("http://127.0.0.1:8080", api_key) as hookline:
        published = hookline.publish("ReportPublished", {"reportId": "r-42"}, client_cuid="c1")
        print(published.id, published.deliveries)

        try:
            hookline.create_webhook("CRM", "http://10.0.0.5/hook", ["ReportPublished"])
        except UrlNotAllowed as exc:
            print(exc.code, exc.field_errors())  # url_not_allowed {'url': '...'}

``AsyncHookline`` has the same methods, as coroutines (``async with AsyncHookline(...)``).

Every publish carries an ``Idempotency-Key`` (a fresh UUID unless you give one) that is sent
again, unchanged, on each retry: a retry after a lost answer cannot publish twice. Errors are
:class:`HooklineError` subclasses carrying the API's ``code``, ``message``, ``status`` and
``details``. This package needs only ``httpx``: it does not import the server.
"""

from hookline.client._async import AsyncHookline
from hookline.client._calls import UNSET, Unset
from hookline.client._sync import Hookline
from hookline.client.errors import (
    AuthenticationError,
    ConflictError,
    ConnectionFailed,
    FieldError,
    ForbiddenError,
    HooklineError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnexpectedResponse,
    UrlNotAllowed,
    ValidationError,
    WebhooksDisabled,
)
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

__all__ = [
    "UNSET",
    "AsyncHookline",
    "AttemptLog",
    "AuthenticationError",
    "ConflictError",
    "ConnectionFailed",
    "Delivery",
    "DeliveryDetail",
    "EventIn",
    "EventType",
    "FieldError",
    "ForbiddenError",
    "Hookline",
    "HooklineError",
    "NotFoundError",
    "Page",
    "Published",
    "RateLimitedError",
    "ServerError",
    "TestResult",
    "UnexpectedResponse",
    "Unset",
    "UrlNotAllowed",
    "ValidationError",
    "Webhook",
    "WebhooksDisabled",
]
