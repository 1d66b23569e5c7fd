"""A real Hookline API on loopback for schemathesis: real store, real HTTP, nothing outside.

The app runs under uvicorn on its own event loop in a helper thread (the stores' pools are
bound to the loop that opened them; schemathesis calls synchronously, from the test's
thread). Beside it runs a loopback receiver for the test endpoint. Two things keep the fuzzer
from ever leaving the machine:

* DNS is fake: only ``receiver.fuzz.example`` resolves (to 127.0.0.1);
* the URL guard of create/update/test is the real one, followed by a harness-only rule that
  every vetted address is loopback: a generated public IP literal (``http://8.8.8.8/``)
  passes the real SSRF policy, and must still never be dialled from a test run.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from aiohttp import web

from hookline.api.app import create_app
from hookline.config import Settings
from hookline.delivery import ssrf
from hookline.domain.tenants import Role
from hookline.errors import UrlNotAllowed
from hookline.runtime import Services, build_services
from hookline.secretbox import SecretBox
from hookline.services.ratelimit import RateLimiter
from hookline.services.testing import WebhookTester
from hookline.services.webhooks import UrlGuard, WebhookService

SECRET_KEY = "f" * 40
RECEIVER_HOST = "receiver.fuzz.example"
STARTUP_TIMEOUT = 60.0  # seconds; a busy shared machine can be slow to migrate PostgreSQL


@dataclass(frozen=True)
class LiveApi:
    """Where the app listens, one ``Authorization`` header per role, the receiver's base URL
    (``ok``, ``fail``, ``nul``, ``redirect`` and ``big`` answer differently)."""

    base_url: str
    headers: dict[str, dict[str, str]]
    receiver_url: str


async def _resolver(host: str, port: int) -> Sequence[str]:
    if host == RECEIVER_HOST:
        return ["127.0.0.1"]
    raise OSError(f"{host} does not resolve")


def _loopback_only(settings: Settings) -> UrlGuard:
    async def guard(url: str) -> None:
        _, addresses = await ssrf.vet_url(
            url, resolver=_resolver, allowed=settings.allowed_networks
        )
        if not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise UrlNotAllowed("the fuzz harness only reaches loopback")

    return guard


def _confine(services: Services) -> None:
    """Rebuild the URL-vetting services around the loopback-only guard, with a rate limit
    wide enough for the fuzzer to reach the test endpoint's other answers."""
    webhooks = WebhookService(
        services.store,
        SecretBox(SECRET_KEY),
        services.catalog,
        _loopback_only(services.settings),
    )
    services.webhooks = webhooks
    services.tester = WebhookTester(
        services.store,
        webhooks,
        services.catalog,
        services.sender,
        RateLimiter(capacity=1_000_000, per_minute=1_000_000),
    )


async def _receiver() -> tuple[web.AppRunner, int]:
    async def answer(request: web.Request) -> web.Response:
        # Each path answers differently, so the test endpoint's outcomes vary too.
        await request.read()
        kind = request.match_info["tail"]
        if kind == "fail":
            return web.Response(status=500, text="receiver failed")
        if kind == "nul":  # PostgreSQL text cannot hold U+0000
            return web.Response(body=b"a\x00b\xff\xfe", content_type="application/octet-stream")
        if kind == "redirect":
            return web.Response(status=302, headers={"Location": "http://127.0.0.1:1/"})
        if kind == "big":  # past the 64 KiB kept in a log, cut inside a character
            return web.Response(body="é".encode() * 40_000, content_type="text/plain")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    return runner, server.sockets[0].getsockname()[1]


async def _accounts(services: Services) -> dict[str, dict[str, str]]:
    await services.accounts.create_tenant("fuzz")
    headers = {}
    for role in Role:
        issued = await services.accounts.create_key("fuzz", role)
        headers[role.value] = {"Authorization": f"Bearer {issued.plaintext}"}
    return headers


class _Runner:
    """The helper thread: builds everything on its loop, serves until told to stop."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.ready = threading.Event()
        self.live: LiveApi | None = None
        self.error: BaseException | None = None
        self.server: uvicorn.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test's thread
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        settings = Settings(
            database_url=self.database_url,
            secret_key=SECRET_KEY,
            allowed_networks=ssrf.parse_allowed_networks("127.0.0.0/8"),
            delivery_timeout=2.0,
        )
        services = await build_services(settings, resolver=_resolver)
        runner, receiver_port = await _receiver()
        try:
            _confine(services)
            headers = await _accounts(services)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            config = uvicorn.Config(
                create_app(services), log_level="warning", access_log=False, lifespan="off"
            )
            self.server = uvicorn.Server(config)
            self.live = LiveApi(
                base_url=f"http://127.0.0.1:{port}",
                headers=headers,
                receiver_url=f"http://{RECEIVER_HOST}:{receiver_port}/",
            )
            serving = asyncio.create_task(self.server.serve(sockets=[sock]))
            while not self.server.started and not serving.done():
                await asyncio.sleep(0.01)
            self.ready.set()
            await serving
        finally:
            await runner.cleanup()
            await services.close()

    def stop(self) -> None:
        if self.server is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(setattr, self.server, "should_exit", True)


@contextmanager
def live_api(database_url: str) -> Iterator[LiveApi]:
    """Serve Hookline on ``database_url`` (SQLite or PostgreSQL) until the block ends."""
    runner = _Runner(database_url)
    thread = threading.Thread(target=runner.run, name="hookline-fuzz-server", daemon=True)
    thread.start()
    try:
        if not runner.ready.wait(STARTUP_TIMEOUT) or runner.live is None:
            raise RuntimeError(f"the fuzz server did not start: {runner.error!r}")
        yield runner.live
    finally:
        runner.stop()
        thread.join(timeout=STARTUP_TIMEOUT)
