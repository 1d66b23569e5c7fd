"""Signing in with an API key, and signing out.

The key is judged by :meth:`~hookline.services.accounts.AccountService.authenticate`, exactly
as an ``Authorization: Bearer`` header is on the API. Admin and viewer keys get a session;
publisher keys are refused (they may only publish events).
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.domain.tenants import Permission, may
from hookline.errors import Unauthenticated
from hookline.services.accounts import hash_key
from hookline.ui.access import SignInRequired, posted_form, redirect, safe_next, text, visitor
from hookline.ui.render import is_secure, render, services_of, signer_of
from hookline.ui.session import (
    Flash,
    clear_login_nonce,
    clear_session,
    login_nonce,
    login_token,
    new_session,
    set_login_nonce,
    set_session,
)

HOME = "/ui/webhooks"
MAX_KEY = 512

UNKNOWN_KEY = "That API key is unknown or has been revoked."
PUBLISHER_KEY = (
    "A publisher key can only publish events; it cannot sign in here. Use an admin or viewer key."
)
EXPIRED_FORM = "This sign-in form had expired. Please enter your key again."


async def home(request: Request) -> Response:
    """``/ui/`` -> the webhooks list."""
    return redirect(request, HOME)


async def login_page(request: Request) -> Response:
    """The sign-in form (or straight on, for a browser already signed in)."""
    next_path = safe_next(request.query_params.get("next"), HOME)
    try:
        await visitor(request)
    except SignInRequired:
        return _form(request, next_path)
    return redirect(request, next_path)


async def login(request: Request) -> Response:
    """Check the key; on success start a session and go where the visitor was headed."""
    form = await request.form()
    next_path = safe_next(text(form, "next"), HOME)
    signer = signer_of(request)
    nonce = login_nonce(signer, request)
    if nonce is None or not signer.check_token(text(form, "csrf_token"), "login", nonce):
        return _form(request, next_path, EXPIRED_FORM, 403)
    key = text(form, "api_key").strip()
    if not key:
        return _form(request, next_path, "Enter an API key.", 400)
    if len(key) > MAX_KEY:
        return _form(request, next_path, UNKNOWN_KEY, 401)
    try:
        principal = await services_of(request).accounts.authenticate(f"Bearer {key}")
    except Unauthenticated:
        return _form(request, next_path, UNKNOWN_KEY, 401)
    if not may(principal.role, Permission.READ):
        return _form(request, next_path, PUBLISHER_KEY, 403)
    response = redirect(request, next_path)
    set_session(response, signer, new_session(hash_key(key)), is_secure(request))
    clear_login_nonce(response, is_secure(request))
    return response


async def logout(request: Request) -> Response:
    """End the session (a CSRF-checked POST, so another site cannot sign anyone out)."""
    who = await visitor(request)
    await posted_form(request, who)
    response = redirect(request, "/ui/login", Flash("success", "You have signed out."))
    clear_session(response, is_secure(request))
    return response


def _form(
    request: Request, next_path: str, error: str | None = None, status: int = 200
) -> Response:
    """The sign-in page, bound to this browser by a fresh nonce cookie. The typed key is
    never echoed back."""
    signer = signer_of(request)
    nonce = secrets.token_urlsafe(16)
    response = render(
        request,
        "login.html",
        {
            "error": error,
            "login_csrf": login_token(signer, nonce),
            "next_path": next_path if next_path != HOME else "",
        },
        status,
    )
    set_login_nonce(response, signer, nonce, is_secure(request))
    if "hookline_session" in request.cookies:
        clear_session(response, is_secure(request))
    return response


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
