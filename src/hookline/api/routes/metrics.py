"""``GET /metrics``: Prometheus text format, no authentication."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response

from hookline.api.deps import ServicesDep
from hookline.domain.times import utcnow
from hookline.errors import StoreUnavailable

log = logging.getLogger("hookline.api")

router = APIRouter(tags=["health"])

# What prometheus_client's generate_latest writes (the classic text format). Spelled out:
# newer prometheus_client versions name version 1.0.0 in CONTENT_TYPE_LATEST.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUEUE_TIMEOUT = 5.0  # seconds; a scrape must not hang on a database that does not answer


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(services: ServicesDep) -> Response:
    """This process's counters, plus the queue's depth and age read from the database now.

    If the database does not answer, the queue gauges keep their last reading and the rest is
    answered anyway.
    """
    try:
        async with asyncio.timeout(QUEUE_TIMEOUT):
            stats = await services.store.queue_stats(utcnow())
    except (StoreUnavailable, TimeoutError) as exc:
        log.warning("metrics: queue not read: %s", str(exc) or type(exc).__name__)
    else:
        services.metrics.observe_queue(stats)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)
