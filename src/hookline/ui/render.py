"""Templates: one Jinja2 environment (autoescaped), its filters, and the page renderer.

Every page is rendered through :func:`render`, which adds what the layout needs (who is signed
in, the CSRF token, the pending flash message) and the headers every page carries.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hookline import __version__
from hookline.domain.times import iso_ms
from hookline.runtime import Services
from hookline.ui.session import CookieSigner, clear_flash, take_flash

PRETTY_LIMIT = 256 * 1024  # bodies larger than this are shown as sent, not re-indented


def make_environment() -> Environment:
    """The templates of ``hookline/ui/templates``, HTML autoescaped, undefined names an error."""
    env = Environment(
        loader=PackageLoader("hookline.ui", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = time_tag
    env.filters["pretty"] = pretty_body
    env.filters["duration"] = duration
    env.globals["query"] = query_string
    env.globals["version"] = __version__
    return env


def time_tag(moment: datetime | None, empty: str = "—") -> Markup:
    """``<time datetime="ISO">ISO</time>``; the page's script shows it in local time."""
    if moment is None:
        return escape(empty)
    iso = iso_ms(moment)
    return Markup('<time datetime="{0}" title="{0}">{0}</time>').format(iso)


def pretty_body(text: str) -> str:
    """A JSON body re-indented for reading (non-ASCII kept); anything else as it is."""
    if not text or len(text) > PRETTY_LIMIT:
        return text
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return json.dumps(parsed, indent=2, ensure_ascii=False)


def duration(seconds: float) -> str:
    """A short human duration: ``4 s``, ``3 min 5 s``, ``2 h 10 min``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def query_string(**params: str | None) -> str:
    """``?a=1&b=2`` of the non-empty parameters ('' when there are none)."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def services_of(request: Request) -> Services:
    """The services the UI app was created with."""
    services: Services = request.app.state.services
    return services


def signer_of(request: Request) -> CookieSigner:
    """The UI's cookie signer."""
    signer: CookieSigner = request.app.state.signer
    return signer


def is_secure(request: Request) -> bool:
    """Whether cookies should be marked Secure (the page came over HTTPS)."""
    return request.url.scheme == "https"


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """A page from ``template``, with the layout's context; consumes the flash message."""
    env: Environment = request.app.state.templates
    signer = signer_of(request)
    flash = take_flash(signer, request)
    visitor = getattr(request.state, "visitor", None)
    page = env.get_template(template).render(
        {
            "visitor": visitor,
            "csrf": visitor.csrf if visitor is not None else "",
            "can_manage": visitor.can_manage if visitor is not None else False,
            "flash": flash,
            "path": request.url.path,
            **context,
        }
    )
    response = HTMLResponse(page, status_code=status)
    if flash is not None:
        clear_flash(response, is_secure(request))
    return response
