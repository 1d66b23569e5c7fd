"""The UI's pages, one module per area, and the one order their routes are matched in."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Every page route. Literal paths (``/webhooks/new``) come before ``/webhooks/{id}``."""
    from hookline.ui.pages.auth import ROUTES as AUTH
    from hookline.ui.pages.editor import ROUTES as EDITOR
    from hookline.ui.pages.logs import ROUTES as LOGS
    from hookline.ui.pages.status import ROUTES as STATUS
    from hookline.ui.pages.webhooks import ROUTES as WEBHOOKS

    return [*AUTH, *EDITOR, *WEBHOOKS, *LOGS, *STATUS]
