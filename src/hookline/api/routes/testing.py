"""The test endpoint: ``POST /api/internal/webhooks/test``, one synchronous attempt.

A literal sibling of ``/webhooks/{id}``: this router is mounted above the webhook item routes
(see :func:`hookline.api.routes.api_router`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from hookline.api.deps import Caller, ServicesDep, json_body
from hookline.api.schemas import TestIn, TestOut, error_responses, request_body_openapi

TEST = "/api/internal/webhooks/test"

router = APIRouter(tags=["webhooks"])


@router.post(
    TEST,
    responses=error_responses(400, 401, 403, 404, 413, 429),
    openapi_extra=request_body_openapi(TestIn),
)
async def test_webhook(
    services: ServicesDep,
    caller: Caller,
    body: Annotated[TestIn, Depends(json_body(TestIn))],
) -> TestOut:
    """Send one test event now (admin): no retries, logged with trigger ``test``.

    The URL goes through the same SSRF guard as deliveries: a refused URL answers 400
    ``url_not_allowed``. Anything that goes wrong *at the receiver* (refused connection,
    timeout, non-2xx) is a 200 with ``success: false`` and the reason in ``error``. Limited
    to a burst of 10 calls per key, then 20 a minute (429 ``rate_limited``).
    """
    outcome = await services.tester.test(caller, body.to_request())
    result = outcome.result
    return TestOut(
        success=result.success,
        status_code=result.status_code,
        duration_ms=result.duration_ms,
        error=result.error,
        response_body=result.response_body,
        log_id=outcome.log_id,
    )
