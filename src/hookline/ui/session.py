"""The web UI's signed cookies: the session, the sign-in form's nonce, and flash messages.

A session cookie holds ``{sha256 of the API key, a per-session nonce, expiry}``, signed with
HMAC-SHA256 under ``Services.session_key`` (never the key itself, never the secret box key).
It is only a pointer: every request looks the key up again through
:meth:`~hookline.services.accounts.AccountService.authenticate_hash`, so a revoked key signs
the browser out at once.

CSRF: every POST form carries ``csrf_token`` = HMAC(session key, "csrf", nonce, key hash).
The sign-in form, before any session exists, is bound the same way to a short-lived nonce
cookie. All cookies are HttpOnly, SameSite=Strict and scoped to ``/ui``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "hookline_session"
LOGIN_COOKIE = "hookline_login"
FLASH_COOKIE = "hookline_flash"
COOKIE_PATH = "/ui"
SESSION_SECONDS = 8 * 3600
LOGIN_SECONDS = 2 * 3600
FLASH_SECONDS = 60
_MAX_COOKIE = 4096


@dataclass(frozen=True)
class Session:
    """What a valid session cookie says."""

    key_hash: str
    nonce: str
    expires: int  # epoch seconds


@dataclass(frozen=True)
class Flash:
    """A one-time message shown on the next page: ``kind`` is ``success`` or ``error``."""

    kind: str
    message: str


class CookieSigner:
    """Signs and checks JSON payloads, each under its own purpose label."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode() + b"\x00" + data, hashlib.sha256).digest()

    def dumps(self, purpose: str, payload: dict[str, Any]) -> str:
        """``base64url(json).base64url(hmac)``: cookie-safe, tamper-evident (not secret)."""
        data = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(data)}.{_b64(self._mac(purpose, data))}"

    def loads(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        """The payload of a value made by :meth:`dumps` for ``purpose``, or None."""
        if not value or len(value) > _MAX_COOKIE or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        try:
            data, signature = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(signature, self._mac(purpose, data)):
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def token(self, *parts: str) -> str:
        """A CSRF token bound to ``parts`` (hex)."""
        return self._mac("csrf", "\x00".join(parts).encode()).hex()

    def check_token(self, given: str | None, *parts: str) -> bool:
        """Whether ``given`` is the token for ``parts`` (constant time)."""
        if not given:
            return False
        expected = self.token(*parts).encode("ascii")
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the session -----------------------------------------------------------------------------
def new_session(key_hash: str, now: float | None = None) -> Session:
    """A fresh session for a key, with its own CSRF nonce, expiring in 8 hours."""
    start = int(time.time() if now is None else now)
    return Session(key_hash, secrets.token_urlsafe(16), start + SESSION_SECONDS)


def read_session(
    signer: CookieSigner, request: Request, now: float | None = None
) -> Session | None:
    """The request's unexpired, untampered session, or None."""
    payload = signer.loads("session", request.cookies.get(SESSION_COOKIE))
    if payload is None:
        return None
    key_hash, nonce, expires = payload.get("h"), payload.get("n"), payload.get("e")
    if not (isinstance(key_hash, str) and isinstance(nonce, str) and isinstance(expires, int)):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return Session(key_hash, nonce, expires)


def csrf_token(signer: CookieSigner, session: Session) -> str:
    """The token every POST form of this session carries."""
    return signer.token("session", session.nonce, session.key_hash)


def set_session(response: Response, signer: CookieSigner, session: Session, secure: bool) -> None:
    """Give the browser its session cookie."""
    value = signer.dumps(
        "session", {"h": session.key_hash, "n": session.nonce, "e": session.expires}
    )
    _set(response, SESSION_COOKIE, value, max(0, session.expires - int(time.time())), secure)


def clear_session(response: Response, secure: bool) -> None:
    """Forget the session in the browser."""
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )


# -- the sign-in form ------------------------------------------------------------------------
def login_nonce(signer: CookieSigner, request: Request) -> str | None:
    """The nonce of the browser's sign-in form cookie, if it has a valid one."""
    payload = signer.loads("login", request.cookies.get(LOGIN_COOKIE))
    if payload is None:
        return None
    nonce, expires = payload.get("n"), payload.get("e")
    if not isinstance(nonce, str) or not isinstance(expires, int) or expires <= time.time():
        return None
    return nonce


def set_login_nonce(response: Response, signer: CookieSigner, nonce: str, secure: bool) -> None:
    """Bind the sign-in form to this browser (a cross-site page cannot read the token)."""
    value = signer.dumps("login", {"n": nonce, "e": int(time.time()) + LOGIN_SECONDS})
    _set(response, LOGIN_COOKIE, value, LOGIN_SECONDS, secure)


def login_token(signer: CookieSigner, nonce: str) -> str:
    """The sign-in form's CSRF token."""
    return signer.token("login", nonce)


def clear_login_nonce(response: Response, secure: bool) -> None:
    """The sign-in form's nonce is spent once signed in."""
    response.delete_cookie(
        LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )


# -- flash messages --------------------------------------------------------------------------
def set_flash(response: Response, signer: CookieSigner, flash: Flash, secure: bool) -> None:
    """Show ``flash`` on the next page this browser loads."""
    value = signer.dumps("flash", {"k": flash.kind, "m": flash.message[:500]})
    _set(response, FLASH_COOKIE, value, FLASH_SECONDS, secure)


def take_flash(signer: CookieSigner, request: Request) -> Flash | None:
    """The pending flash message, if any (the caller clears the cookie)."""
    payload = signer.loads("flash", request.cookies.get(FLASH_COOKIE))
    if payload is None:
        return None
    kind, message = payload.get("k"), payload.get("m")
    if kind not in ("success", "error") or not isinstance(message, str):
        return None
    return Flash(str(kind), message)


def clear_flash(response: Response, secure: bool) -> None:
    """The flash message has been shown."""
    response.delete_cookie(
        FLASH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )


def _set(response: Response, name: str, value: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
