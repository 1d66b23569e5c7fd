"""Developer tools: ``emit`` (publish from the shell), ``verify`` (check a signature) and
``listen`` (a local receiver that prints deliveries)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hookline.cli import output
from hookline.cli.admin import with_store
from hookline.cli.options import DatabaseUrl
from hookline.domain.events import parse_json
from hookline.domain.tenants import DEFAULT_TENANT
from hookline.errors import ValidationFailed
from hookline.services.accounts import AccountService
from hookline.services.catalog import CatalogService
from hookline.services.events import EventInput, EventService
from hookline.signing import SIGNATURE_HEADER, verify
from hookline.store import Store

EXIT_INVALID = 1


def _read_data(data: str | None) -> Any:
    if data is None:
        return {}
    text = data
    if data.startswith("@"):
        source = data[1:]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        except OSError as exc:
            raise ValidationFailed.field(
                "--data", f"cannot read {source}: {exc.strerror}"
            ) from None
    try:
        return parse_json(text)
    except ValueError as exc:
        raise ValidationFailed.field("--data", f"is not valid JSON: {exc}") from None


def emit(
    event: Annotated[
        str, typer.Argument(metavar="EVENT", help="An event type, e.g. ReportPublished.")
    ],
    tenant: Annotated[str, typer.Option(help="The tenant that publishes.")] = DEFAULT_TENANT,
    client: Annotated[
        str | None, typer.Option(metavar="CUID", help="The event's clientCuid.")
    ] = None,
    data: Annotated[
        str | None, typer.Option(metavar="JSON|@FILE", help="The data object (@- reads stdin).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Publish an event from the shell, like POST /api/internal/events.

    Prints the answer ({"id": ..., "deliveries": N}). A running `hookline serve` delivers it.

    Example: hookline emit ReportPublished --client c1 --data '{"reportId": "r-42"}'
    """
    payload = _read_data(data)

    async def publish(store: Store) -> str:
        principal = await AccountService(store).operator(tenant)
        service = EventService(store, CatalogService(store))
        published = await service.publish(principal, EventInput(event, client, payload))
        return published.body

    output.result(with_store(database_url, publish))


def verify_command(
    secret: Annotated[str, typer.Option(help="The webhook's secret.")],
    signature: Annotated[str, typer.Option(metavar="HEX", help=f"The {SIGNATURE_HEADER} value.")],
    file: Annotated[
        str, typer.Argument(metavar="[FILE|-]", help="The raw body; - is stdin.")
    ] = "-",
) -> None:
    """Check a signature over a raw body. Exit 0 and print 'valid', or exit 1 'invalid'.

    Example: hookline verify --secret s3cret --signature 5d41... body.json
    """
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise ValidationFailed.field("FILE", f"cannot read {file}: {exc.strerror}") from None
    if verify(secret, body, signature):
        output.result("valid")
        return
    output.result("invalid")
    raise typer.Exit(EXIT_INVALID)


def listen(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 9000,
    secret: Annotated[str | None, typer.Option(help="Check signatures with this secret.")] = None,
    status: Annotated[int, typer.Option(help="HTTP status to answer with.")] = 200,
    delay: Annotated[float, typer.Option(help="Seconds to wait before answering.")] = 0.0,
) -> None:
    """A local receiver for development: prints each delivery and checks its signature.

    Point a webhook at the printed URL; Hookline must be allowed to reach loopback
    (HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8). --status and --delay rehearse failures.
    """
    if not 100 <= status <= 599:
        raise ValidationFailed.field("--status", "must be an HTTP status (100..599)")
    if not 0 <= port <= 65535:
        raise ValidationFailed.field("--port", "must be between 0 and 65535")
    try:
        asyncio.run(_listen(port, secret, status, max(0.0, delay)))
    except OSError as exc:
        from hookline.errors import HooklineError

        raise HooklineError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None


async def _listen(port: int, secret: str | None, status: int, delay: float) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None:
            check = "unsigned"
        elif secret is None:
            check = "signed (no --secret to check)"
        else:
            check = "signature valid" if verify(secret, body, signature) else "SIGNATURE INVALID"
        head = " ".join(
            f"{name}={request.headers.get(header, '-')}"
            for name, header in (
                ("event", "X-Hookline-Event"),
                ("delivery", "X-Hookline-Delivery"),
                ("attempt", "X-Hookline-Attempt"),
            )
        )
        output.result(f"{request.method} {request.path} {head} [{check}]")
        try:
            output.result(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
        except ValueError:
            output.result(body.decode("utf-8", errors="replace"))
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, text="ok\n")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    try:
        await site.start()
        bound = runner.addresses[0][1]
        output.note(f"listening on http://127.0.0.1:{bound}/ (answering {status})")
        output.note("Hookline must allow loopback: HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def register(app: typer.Typer) -> None:
    """Add ``emit``, ``verify`` and ``listen`` to ``app``."""
    app.command("emit")(emit)
    app.command("verify")(verify_command)
    app.command("listen")(listen)
