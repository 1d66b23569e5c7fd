"""The status page: is this process delivering, how deep is the queue, how is the last hour.

It reads the same things ``/readyz`` and ``/metrics`` do (the engine's state, the store's queue
and attempt summaries), plus whether the visitor's account has the webhook feature on. It is
the one page a disabled account can still read: it says why nothing else works.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.domain.times import utcnow
from hookline.ui.access import visitor
from hookline.ui.render import render, services_of

WINDOW = timedelta(hours=1)


async def status_page(request: Request) -> Response:
    """``/ui/status``."""
    who = await visitor(request)
    services = services_of(request)
    now = utcnow()
    queue = await services.store.queue_stats(now)
    attempts = await services.store.attempt_stats(who.principal.tenant.id, now - WINDOW)
    # As /readyz: the delivery engine and its workers run together, in this process or not.
    running = services.delivering()
    ratio = None if attempts.total == 0 else attempts.succeeded / attempts.total
    context = {
        "engine": "running" if running else "not running",
        "service": "running" if running else "not running",
        "queue": queue,
        "oldest_due_at": now - timedelta(seconds=queue.oldest_due_seconds) if queue.due else None,
        "attempts": attempts,
        "per_minute": per_minute(attempts.total),
        "ratio": ratio,
        "feature": "on" if who.principal.tenant.enabled else "off",
        "now": now,
    }
    return render(request, "status.html", context)


def per_minute(total: int) -> str:
    """Attempts a minute over the window, precise enough to tell a trickle from nothing."""
    rate = total / (WINDOW.total_seconds() / 60)
    return f"{rate:.2f}" if 0 < rate < 1 else f"{rate:.1f}"


ROUTES = [Route("/status", status_page, methods=["GET"])]
