"""``hookline listen``: a local receiver for development that prints each delivery.

It answers every request (any method, any path) with the chosen status after the chosen delay,
and prints the request: the ``X-Hookline-*`` headers, whether the signature is valid, invalid,
absent or not checked, and the body, pretty-printed (colours on a terminal, plain text when
piped). The banner at start goes to stderr, the deliveries to stdout.
"""

from __future__ import annotations

import asyncio
import math
import signal
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.json import JSON
from rich.text import Text

from hookline.cli import output
from hookline.errors import HooklineError, ValidationFailed
from hookline.signing import SIGNATURE_HEADER, verify

LISTEN_HOST = "127.0.0.1"
LOOPBACK_NETWORK = "127.0.0.0/8"
SECRET_ENV = "HOOKLINE_WEBHOOK_SECRET"  # noqa: S105 (the variable's name, not a secret)


def listen(
    port: Annotated[
        int,
        typer.Option(metavar="PORT", help="Port on 127.0.0.1; 0 picks a free one."),
    ] = 9000,
    secret: Annotated[
        str | None,
        typer.Option(
            metavar="SECRET",
            envvar=SECRET_ENV,
            help="Check signatures with this secret (without it they are shown as 'not "
            "checked'). Prefer the environment variable.  [default: none]",
        ),
    ] = None,
    status: Annotated[
        int, typer.Option(metavar="CODE", help="HTTP status to answer every request with.")
    ] = 200,
    delay: Annotated[
        float, typer.Option(metavar="SECONDS", help="Wait this long before answering.")
    ] = 0.0,
) -> None:
    """A local receiver for development: prints each delivery as it arrives.

    For each request it prints the event, delivery id, attempt, webhook, whether the
    signature is valid, invalid or absent (unsigned), and the body, pretty-printed.
    At start it prints the URL to give the webhook and the HOOKLINE_ALLOWED_NETWORKS value
    the Hookline server needs to reach it (loopback is refused by default).

    --status and --delay rehearse failures: --status 500 makes Hookline retry, --status 410
    stops it at once, --delay 6 outlasts the 5 s delivery timeout.

    \b
    Examples:
      hookline listen --secret "$SECRET"
      hookline listen --port 9001 --status 503
      HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8 hookline serve    # in another terminal

    \b
    Exit codes:
      0    stopped by SIGTERM
      1    the port cannot be listened on
      2    usage: bad --port, --status or --delay
      130  stopped by Ctrl-C
    """
    if not 200 <= status <= 599:
        raise ValidationFailed.field("--status", "must be an HTTP status from 200 to 599")
    if not 0 <= port <= 65535:
        raise ValidationFailed.field("--port", "must be between 0 and 65535")
    if not math.isfinite(delay) or delay < 0:
        raise ValidationFailed.field("--delay", "must be 0 or more seconds")
    try:
        asyncio.run(_listen(port, secret, status, delay))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise HooklineError(f"cannot listen on {LISTEN_HOST}:{port}: {reason}") from None


def signature_state(secret: str | None, body: bytes, header: str | None) -> str:
    """``valid``, ``invalid``, ``unsigned`` (no header) or ``not checked`` (no secret)."""
    if header is None:
        return "unsigned"
    if secret is None:
        return "not checked"
    return "valid" if verify(secret, body, header) else "invalid"


_STATE_STYLES = {
    "valid": "bold green",
    "invalid": "bold red",
    "unsigned": "yellow",
    "not checked": "dim",
}
_FIELDS = (
    ("event", "X-Hookline-Event"),
    ("delivery", "X-Hookline-Delivery"),
    ("attempt", "X-Hookline-Attempt"),
    ("webhook", "X-Hookline-Webhook"),
)


def render_delivery(
    console: Console,
    request_line: str,
    headers: Mapping[str, str],
    body: bytes,
    state: str,
    answer: str,
) -> None:
    """Print one received request: a rule, the Hookline headers, the check, the body."""
    now = datetime.now().astimezone().strftime("%H:%M:%S.%f")[:-3]
    console.rule(Text(f"{now} {request_line}", style="bold"), align="left")
    for label, header in _FIELDS:
        console.print(Text.assemble((f"{label:<10}", "dim"), headers.get(header, "-")))
    console.print(Text.assemble(("signature ", "dim"), (state, _STATE_STYLES[state])))
    console.print(Text.assemble(("answer    ", "dim"), answer))
    text = body.decode("utf-8", errors="replace")
    try:
        console.print(JSON(text, indent=2, ensure_ascii=False))
    except ValueError:
        console.print(Text(text or "(empty body)"))
    console.file.flush()


async def _listen(port: int, secret: str | None, status: int, delay: float) -> None:
    from aiohttp import web

    console = Console(file=sys.stdout, soft_wrap=True, highlight=False, emoji=False)
    answer = f"{status}" + (f" after {delay:g} s" if delay else "")
    reply = "ok\n" if status < 300 else f"hookline listen: answering {status} as asked\n"

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        state = signature_state(secret, body, request.headers.get(SIGNATURE_HEADER))
        line = f"{request.method} {request.path_qs}"
        render_delivery(console, line, request.headers, body, state, answer)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, text=reply)

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await web.TCPSite(runner, LISTEN_HOST, port).start()
        bound = runner.addresses[0][1]
        _banner(f"http://{LISTEN_HOST}:{bound}/", secret is not None, answer)
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await runner.cleanup()


def _banner(url: str, checking: bool, answer: str) -> None:
    output.note(f"Listening on {url} (answering {answer}); Ctrl-C to stop.")
    output.note(f"Webhook URL: {url}")
    output.note(
        f"Start Hookline with HOOKLINE_ALLOWED_NETWORKS={LOOPBACK_NETWORK} "
        "so that it may deliver to loopback."
    )
    if not checking:
        output.note("No --secret: signatures are shown as 'not checked'.")
