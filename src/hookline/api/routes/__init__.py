"""The API's routers, and the one order they are mounted in."""

from __future__ import annotations

from fastapi import APIRouter

from hookline.api.routes import (
    catalog,
    deliveries,
    events,
    health,
    logs,
    metrics,
    testing,
    webhooks,
)


def api_router() -> APIRouter:
    """Every route of the API.

    Starlette matches routes in order, and ``/api/internal/webhooks/{id}`` would swallow any
    literal sibling such as ``/api/internal/webhooks/logs`` registered after it. So routers
    with literal paths under ``/webhooks/`` are included before ``webhooks.item_router``,
    which stays last (``tests/api/test_app.py`` checks this).
    """
    router = APIRouter()
    # First: routes are matched in order, and publishing is the hot path (measured).
    router.include_router(events.router)
    router.include_router(health.router)
    router.include_router(metrics.router)
    router.include_router(catalog.router)
    router.include_router(deliveries.router)
    router.include_router(webhooks.collection_router)
    # Literal /api/internal/webhooks/<word> routers go here, above the {id} routes.
    router.include_router(logs.router)
    router.include_router(testing.router)
    router.include_router(webhooks.item_router)
    return router
