"""Who is looking at a page, and whether a POST really comes from one of our forms.

Pages call :func:`visitor` first: it reads the signed session cookie and asks the account
service again for the key behind it (a revoked key ends the session at once). POST handlers
then call :func:`posted_form`, which refuses a form without this session's CSRF token. What a
visitor may *do* is decided by the services (``Principal``), exactly as for the API; the UI
only hides controls a role cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse

from hookline.domain.tenants import Permission, Principal, may
from hookline.errors import Unauthenticated
from hookline.ui.render import is_secure, services_of, signer_of
from hookline.ui.session import Flash, Session, csrf_token, read_session, set_flash

MAX_FORM_FIELDS = 2000  # a webhook form: a few fields plus one checkbox per catalogue event


@dataclass(frozen=True)
class Visitor:
    """A signed-in browser: the key's principal, its session and the session's CSRF token."""

    principal: Principal
    session: Session
    csrf: str

    @property
    def can_manage(self) -> bool:
        """Whether to show controls that change things (the services decide regardless)."""
        return may(self.principal.role, Permission.MANAGE)


class SignInRequired(Exception):
    """No valid session: the browser goes to the sign-in page, then back to ``next_path``."""

    def __init__(self, next_path: str | None, message: str | None = None) -> None:
        super().__init__(message or "sign in required")
        self.next_path = next_path
        self.message = message


class CsrfRefused(Exception):
    """A POST without this session's CSRF token: answered 403, nothing done."""


async def visitor(request: Request) -> Visitor:
    """The signed-in visitor, or :class:`SignInRequired`."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    next_path = here if request.method == "GET" else None
    session = read_session(signer_of(request), request)
    if session is None:
        expired = request.cookies.get("hookline_session") is not None
        raise SignInRequired(
            next_path, "Your session has ended; sign in again." if expired else None
        )
    try:
        principal = await services_of(request).accounts.authenticate_hash(session.key_hash)
    except Unauthenticated:
        raise SignInRequired(next_path, "That API key has been revoked; sign in again.") from None
    if not may(principal.role, Permission.READ):  # a publisher never gets a session
        raise SignInRequired(next_path)
    found = Visitor(principal, session, csrf_token(signer_of(request), session))
    request.state.visitor = found
    return found


async def posted_form(request: Request, who: Visitor) -> FormData:
    """The submitted form, once its ``csrf_token`` is this session's; else CsrfRefused."""
    form = await request.form(max_fields=MAX_FORM_FIELDS)
    given = form.get("csrf_token")
    if not isinstance(given, str) or not signer_of(request).check_token(
        given, "session", who.session.nonce, who.session.key_hash
    ):
        raise CsrfRefused()
    return form


def text(form: FormData, name: str) -> str:
    """One text field of a form ('' if absent; files are not text)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    return [v for v in form.getlist(name) if isinstance(v, str)]


def safe_next(value: str | None, default: str) -> str:
    """A place inside the UI to go back to; anything else (other sites, odd paths) is
    replaced by ``default``."""
    if (
        not value
        or not value.startswith("/ui/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
        or value.startswith(("/ui/login", "/ui/logout", "/ui/static"))
        or len(value) > 2000
    ):
        return default
    return value


def redirect(request: Request, url: str, flash: Flash | None = None) -> RedirectResponse:
    """303 See Other to ``url`` (a GET), with a message for the page there."""
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        set_flash(response, signer_of(request), flash, is_secure(request))
    return response
