"""The ASGI app: ``create_app(services)`` wires routes, error envelope and body limit.

Nothing is built at import time; every call makes a fresh app around the services given.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline import __version__
from hookline.api.errors import UnexpectedErrors, install_error_handlers
from hookline.api.limits import MAX_BODY_BYTES, declared_length, too_large
from hookline.api.publishing import RawPublish
from hookline.api.routes import api_router
from hookline.api.schemas import UNAVAILABLE, UNAVAILABLE_DESCRIPTION
from hookline.errors import PayloadTooLarge
from hookline.runtime import Services
from hookline.ui import create_ui_app

__all__ = ["MAX_BODY_BYTES", "HooklineApp", "create_app"]

DESCRIPTION = """\
Manage webhooks and read the event catalogue. Every `/api/` call needs
`Authorization: Bearer <key>`. Errors always look like
`{"error": {"code": "...", "message": "...", "details": [{"field": "...", "message": "..."}]}}`.
"""


class HooklineApp(FastAPI):
    """FastAPI, with ``POST /api/internal/events[/batch]`` answered ahead of its middleware stack.

    Measured under single-event ingest (wrk, 64 connections, no webhook): entering FastAPI and
    Starlette and the five middlewares around the routes (each wrapping ``send``) took 17 % of
    the event loop's CPU per request (135 us with them, 112 us without). :class:`RawPublish`
    does itself what that stack did for it (the body limit, the 500 for a bug); every other
    request, and the publish paths when ``raw_publish`` is None, go through FastAPI as before.
    """

    raw_publish: RawPublish | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = self.raw_publish
        if raw is not None and raw.handles(scope):
            await raw(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(services: Services) -> HooklineApp:
    """The HTTP API around already-built services (see :func:`hookline.runtime.build_services`)."""
    app = HooklineApp(
        title="Hookline",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # First is outermost: a bug anywhere below, the size limit included, becomes a 500.
        middleware=[
            Middleware(UnexpectedErrors),
            Middleware(RequestSizeLimit, max_bytes=MAX_BODY_BYTES),
        ],
    )
    app.raw_publish = RawPublish(services, MAX_BODY_BYTES)
    app.state.services = services
    install_error_handlers(app)
    app.include_router(api_router())
    # The admin UI: its own small app, so that everything under /ui answers in HTML.
    app.mount("/ui", create_ui_app(services), name="ui")
    app.openapi = lambda: _openapi_document(app)  # type: ignore[method-assign]
    return app


def _openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, minus the 422 answers it adds: invalid parameters answer 400."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                # Every authenticated call reads the store (the key, at least): when the
                # database is down it answers 503 database_unavailable.
                if operation.get("security"):
                    responses.setdefault(str(UNAVAILABLE), _unavailable())
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
    return app.openapi_schema


def _unavailable() -> dict[str, Any]:
    return {
        "description": UNAVAILABLE_DESCRIPTION,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit.

    An HTTPException on purpose: FastAPI re-raises those from its own body parsing (it turns
    other exceptions there into a generic 400), so every route answers 413 alike.
    """

    def __init__(self) -> None:
        super().__init__(status_code=PayloadTooLarge.status, detail=PayloadTooLarge().message)


class RequestSizeLimit:
    """Pure ASGI middleware: refuse request bodies over ``max_bytes`` with 413.

    A declared ``Content-Length`` over the limit is refused before the app runs. Chunked
    uploads have no length, so the bytes are counted as the app reads them and the read that
    crosses the limit raises :class:`BodyTooLarge`; nothing is buffered here.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if declared_length(scope) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def receive_counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_counting, send_tracking)
        except BodyTooLarge:
            if started:
                raise
            await too_large(scope, receive, send)
