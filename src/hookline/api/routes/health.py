"""Liveness and readiness probes: no authentication, no error envelope."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hookline.api.deps import ServicesDep
from hookline.api.schemas import HealthOut, ReadinessOut

log = logging.getLogger("hookline.api")

router = APIRouter(tags=["health"])

PING_TIMEOUT = 5.0  # seconds; a database that does not answer by then is not ready


@router.get("/healthz")
async def healthz() -> HealthOut:
    """200 while the process lives."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "The database is unreachable"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """Whether this process can serve: 200 if the database answers, else 503.

    ``engine`` and ``service`` say whether this process delivers: ``running`` while its
    delivery engine runs (``hookline serve`` and ``hookline worker``), ``absent`` otherwise
    (``hookline api``, or an engine that has stopped).
    """
    database, status = "ok", 200
    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await services.store.ping()
    except Exception as exc:  # whatever the reason, the answer is "not ready"
        log.warning("readiness: database unavailable: %s", str(exc) or type(exc).__name__)
        database, status = "unavailable", 503
    # The engine is the delivery service: "running" only while its loop runs in this process.
    delivering = services.delivering()
    halves = "running" if delivering else "absent"
    body = ReadinessOut(database=database, engine=halves, service=halves)
    return JSONResponse(body.model_dump(by_alias=True), status_code=status)
