"""The admin web UI: server-rendered pages at ``/ui``, a thin client of the services."""

from __future__ import annotations

from hookline.ui.app import create_ui_app

__all__ = ["create_ui_app"]
