"""Developer tools: ``emit`` (publish from the shell), ``verify`` (check a signature) and
``listen`` (a local receiver that prints deliveries, in :mod:`hookline.cli.listen`).

Exit codes are those of every command (see :mod:`hookline.cli.main`), plus ``verify``'s own:
1 when the signature does not match.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from hookline.cli import listen, output
from hookline.cli.admin import with_store
from hookline.cli.listen import SECRET_ENV
from hookline.cli.options import DatabaseUrl
from hookline.domain.events import parse_json
from hookline.domain.tenants import DEFAULT_TENANT
from hookline.errors import NotFound, ValidationFailed
from hookline.services.accounts import AccountService
from hookline.services.catalog import CatalogService
from hookline.services.events import EventInput, EventService, Published
from hookline.signing import SIGNATURE_HEADER, verify
from hookline.store import Store

EXIT_INVALID = 1

_VERIFY_KEY_HELP = (
    "The webhook's secret. Prefer the environment variable: command lines are visible to "
    "other local users."
)


# -- emit ------------------------------------------------------------------------------------
def _read_data(data: str | None) -> Any:
    if data is None:
        return {}
    text = data
    if data.startswith("@"):
        source = data[1:]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise ValidationFailed.field("--data", f"cannot read {source}: {reason}") from None
    try:
        return parse_json(text)
    except ValueError as exc:
        raise ValidationFailed.field("--data", f"is not valid JSON: {exc}") from None


def emit(
    event: Annotated[
        str, typer.Argument(metavar="EVENT", help="An event type, e.g. ReportPublished.")
    ],
    tenant: Annotated[
        str, typer.Option(metavar="NAME", help="The tenant that publishes.")
    ] = DEFAULT_TENANT,
    client: Annotated[
        str | None,
        typer.Option(metavar="CUID", help="The event's clientCuid.  [default: none]"),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            metavar="JSON|@FILE",
            help="The data object, inline, from a file, or @- for stdin.  [default: {}]",
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="Like the Idempotency-Key header: the same key again within 24 h answers "
            "the first answer and queues nothing.  [default: none]",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Publish an event from the shell, like POST /api/internal/events.

    Prints the answer, {"id": "evt_...", "deliveries": N}, alone on stdout: N deliveries
    were queued, and a running `hookline serve` or `hookline worker` on the same database
    sends them. Needs no API key: it acts as an admin of the tenant.

    \b
    Examples:
      hookline emit ReportPublished --data '{"reportId": "r-42"}'
      hookline emit ReportPublished --client c1 --data @report.json
      echo '{"reportId": "r-43"}' | hookline emit ReportPublished --data @-
      EVENT_ID=$(hookline emit AssessmentSubmitted | jq -r .id)

    \b
    Exit codes:
      0  published (even to no webhook: see the note on stderr)
      1  no such tenant, or the database is unreachable
      2  invalid input: unknown event type, --data not a JSON object, bad setting
    """
    payload = _read_data(data)

    async def publish(store: Store) -> Published:
        try:
            principal = await AccountService(store).operator(tenant)
        except NotFound as exc:
            raise NotFound(
                f"{exc.message}; create it with `hookline tenant create {tenant[:100]}` "
                "(`hookline serve` creates tenant 'default' on its first start)"
            ) from None
        service = EventService(store, CatalogService(store))
        return await service.publish(principal, EventInput(event, client, payload), idempotency_key)

    published = with_store(database_url, publish)
    output.result(published.body)
    if published.replayed:
        output.note("replayed: this --idempotency-key was used within 24 h; nothing was queued")
    else:
        output.note(_emit_note(json.loads(published.body), event, tenant, client))


def _emit_note(answer: Mapping[str, Any], event: str, tenant: str, client: str | None) -> str:
    count = int(answer.get("deliveries", 0))
    if count == 0:
        for_client = f" for client {client}" if client else ""
        return (
            f"event {answer.get('id')} stored; no enabled webhook of tenant {tenant} "
            f"subscribes to {event}{for_client}, so nothing will be sent"
        )
    plural = "delivery" if count == 1 else "deliveries"
    return (
        f"event {answer.get('id')} stored with {count} {plural}; a running `hookline serve` "
        "or `hookline worker` on this database sends them"
    )


# -- verify ----------------------------------------------------------------------------------
def verify_command(
    secret: Annotated[
        str, typer.Option(metavar="SECRET", envvar=SECRET_ENV, help=_VERIFY_KEY_HELP)
    ],
    signature: Annotated[
        str, typer.Option(metavar="HEX", help=f"The {SIGNATURE_HEADER} header's value.")
    ],
    file: Annotated[
        str,
        typer.Argument(metavar="[FILE|-]", help="The raw body, byte for byte; - reads stdin."),
    ] = "-",
) -> None:
    """Check a webhook signature over a raw body: prints 'valid' or 'invalid'.

    The signature is the hex HMAC-SHA256 of the exact body bytes, keyed with the webhook's
    secret. Give the body as it was received: one byte changed (an editor's final newline, a
    re-formatted JSON) makes it invalid.

    \b
    Examples:
      hookline verify --secret "$SECRET" --signature 9f86d0...a08 body.json
      hookline verify --secret "$SECRET" --signature "$SIG" - < body.json
      HOOKLINE_WEBHOOK_SECRET=... hookline verify --signature "$SIG" body.json && echo ok

    \b
    Exit codes:
      0  valid
      1  invalid (the reason is on stderr)
      2  usage: missing option, unreadable FILE
    """
    if file == "-" and sys.stdin.isatty():
        output.note("reading the body from stdin; end it with Ctrl-D")
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise ValidationFailed.field("FILE", f"cannot read {file}: {exc.strerror}") from None
    if verify(secret, body, signature):
        output.result("valid")
        return
    output.result("invalid")
    output.note(_why_invalid(secret, body, signature))
    raise typer.Exit(EXIT_INVALID)


def _why_invalid(secret: str, body: bytes, signature: str) -> str:
    candidate = signature.strip()
    if len(candidate) != 64 or any(c not in "0123456789abcdefABCDEF" for c in candidate):
        return f"the signature must be 64 hex characters (got {len(candidate)} characters)"
    stripped = body.rstrip(b"\r\n")
    if stripped != body and verify(secret, stripped, signature):
        return "it matches the body without its trailing newline (added by an editor or echo?)"
    return "the signature does not match this body with this secret"


def register(app: typer.Typer) -> None:
    """Add ``emit``, ``verify`` and ``listen`` to ``app``."""
    app.command("emit")(emit)
    app.command("verify")(verify_command)
    app.command("listen")(listen.listen)
