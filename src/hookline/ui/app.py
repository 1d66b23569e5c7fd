"""The admin UI as its own small ASGI app, mounted at ``/ui`` by ``create_app``.

A separate Starlette app rather than more API routes, so that everything under ``/ui`` answers
in HTML (errors and unknown paths included) and carries the page headers, while the API keeps
its JSON error envelope. It calls the same services as the API; nothing here decides who may do
what.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.errors import HooklineError, StoreUnavailable, WebhooksDisabled
from hookline.runtime import Services
from hookline.ui.access import CsrfRefused, SignInRequired, redirect, visitor
from hookline.ui.pages import routes
from hookline.ui.render import make_environment, render
from hookline.ui.session import CookieSigner, Flash, clear_session

log = logging.getLogger("hookline.ui")

PREFIX = "/ui"
STATIC = PREFIX + "/static"
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
NO_STORE = (b"cache-control", b"no-store")


def create_ui_app(services: Services) -> Starlette:
    """The ``/ui`` app around already-built services."""
    app = Starlette(
        routes=[
            *routes(),
            Mount("/static", StaticFiles(packages=[("hookline.ui", "static")]), name="static"),
        ],
        middleware=[Middleware(PageHeaders), Middleware(UnexpectedPageErrors)],
        exception_handlers={
            SignInRequired: _sign_in,
            CsrfRefused: _csrf_refused,
            HooklineError: _hookline_error,
            HTTPException: _http_error,
        },
    )
    app.state.services = services
    app.state.signer = CookieSigner(services.session_key)
    app.state.templates = make_environment()
    return app


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = PREFIX + "/login"
    if exc.next_path and exc.next_path != PREFIX + "/webhooks":
        target += "?" + urlencode({"next": exc.next_path})
    flash = Flash("error", exc.message) if exc.message else None
    response = redirect(request, target, flash)
    if "hookline_session" in request.cookies:
        clear_session(response, request.url.scheme == "https")
    return response


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        403,
        "This form was refused",
        "It did not carry a valid security token: it may be from an old page, or from another "
        "site. Nothing was changed. Reload the page and try again.",
    )


async def _hookline_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HooklineError)
    if isinstance(exc, StoreUnavailable):
        log.warning("%s %s: %s", request.method, request.url.path[:200], exc.message)
        return error_page(
            request, 503, "Database unavailable", "The database is unavailable; try again."
        )
    titles = {
        400: "That request is invalid",
        403: "Not allowed",
        404: "Not found",
        409: "That cannot be done now",
        429: "Slow down",
    }
    if isinstance(exc, WebhooksDisabled):  # the layout's banner says how to turn it on
        return error_page(request, exc.status, "The webhook feature is off", exc.message, "off")
    return error_page(request, exc.status, titles.get(exc.status, "Error"), exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    with contextlib.suppress(SignInRequired, HooklineError):
        await visitor(request)  # only to show the navigation to someone signed in
    if exc.status_code == 404:
        return error_page(request, 404, "Not found", "There is no page at this address.")
    if exc.status_code == 405:
        return error_page(request, 405, "Not allowed", "This page does not take that method.")
    detail = exc.detail if isinstance(exc.detail, str) else "The request could not be served."
    return error_page(request, exc.status_code, "Error", detail)


def error_page(
    request: Request, status: int, title: str, message: str, kind: str = "error"
) -> Response:
    """The error page (inside the layout when someone is signed in)."""
    context = {"title": title, "message": message, "status": status, "kind": kind}
    return render(request, "error.html", context, status)


class PageHeaders:
    """Pure ASGI middleware: the security headers of every ``/ui`` answer, and ``no-store``
    on everything but the static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(STATIC + "/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    h
                    for h in message.get("headers", [])
                    if h[0].lower() not in {name for name, _ in PAGE_HEADERS}
                    and (static or h[0].lower() != b"cache-control")
                ]
                headers += PAGE_HEADERS
                if not static:
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class UnexpectedPageErrors:
    """Pure ASGI middleware: a bug becomes a logged, plain 500 page (never a traceback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            path = repr(str(scope.get("path", "")))[1:-1][:300]
            log.exception("internal error on %s %s", scope.get("method"), path)
            if started:
                raise
            response = HTMLResponse(
                "<!doctype html><title>Hookline: internal error</title>"
                "<h1>Something went wrong</h1><p>The error has been logged. "
                '<a href="/ui/webhooks">Back to the webhooks</a></p>',
                status_code=500,
            )
            await response(scope, receive, send)
