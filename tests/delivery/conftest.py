"""Real loopback receivers, canary listeners and fake resolvers for delivery tests.

* ``receivers.start(host="127.0.0.1", port=0, ssl_context=None)`` starts a real
  ``aiohttp.web`` server that records every request (:class:`Received`) and answers what its
  :meth:`Receiver.reply` says (status, headers, body, an optional stall). ``receiver`` is one
  already started on 127.0.0.1.
* ``canaries.start(host, port=0)`` starts a raw TCP listener that only counts connections: the
  proof that nothing connected to an address that must not be reached.
* ``FakeResolver({"a.test": ["127.0.0.1"]})`` maps names to address strings and records its
  calls; unknown names raise ``socket.gaierror`` like a real failed lookup.
* ``make_sender(resolver, allowed=(127.0.0.0/8,), timeout=5.0)`` builds a
  :class:`~hookline.delivery.sender.Sender` on a real vetting session.

Everything started is stopped at teardown (stalled handlers are released first), so tests run
clean under ``-W error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_network

import pytest
from aiohttp import web

from hookline.delivery import ssrf
from hookline.delivery.sender import Sender
from hookline.delivery.transport import make_session

LOOPBACK = (ip_network("127.0.0.0/8"),)


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Reply:
    """What the receiver answers."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds to wait before answering (released early at teardown)


class Receiver:
    """A real HTTP(S) server on a loopback address that records requests."""

    def __init__(self, host: str, ssl_context: ssl.SSLContext | None) -> None:
        self.host = host
        self.port = 0
        self.scheme = "https" if ssl_context else "http"
        self.requests: list[Received] = []
        self.answer = Reply()
        self.released = asyncio.Event()
        self._ssl_context = ssl_context
        self._runner: web.AppRunner | None = None

    def reply(
        self,
        status: int = 200,
        body: bytes = b"ok",
        headers: Mapping[str, str] | None = None,
        stall: float = 0.0,
    ) -> None:
        """Sets what every following request is answered with."""
        self.answer = Reply(status, body, dict(headers or {}), stall)

    def url(self, path: str = "/hook", *, name: str | None = None) -> str:
        """The URL of ``path`` here, with the host written as ``name`` if given."""
        return f"{self.scheme}://{name or self.host}:{self.port}{path}"

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port, ssl_context=self._ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self.released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(Received(request.method, request.path_qs, headers, body))
        answer = self.answer
        if answer.stall:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), answer.stall)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)


class Canary:
    """A TCP listener that accepts, counts and drops connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()
        await writer.wait_closed()


class FakeResolver:
    """An :data:`ssrf.Resolver` answering from a dict; records ``(host, port)`` calls."""

    def __init__(self, answers: Mapping[str, Sequence[str]] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.answers[host])


class Receivers:
    """Starts receivers; stops them all at teardown."""

    def __init__(self) -> None:
        self.started: list[Receiver] = []

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> Receiver:
        receiver = Receiver(host, ssl_context)
        self.started.append(receiver)
        await receiver.start(port)
        return receiver


class Canaries:
    """Starts canaries; stops them all at teardown."""

    def __init__(self) -> None:
        self.started: list[Canary] = []

    async def start(self, host: str, port: int = 0) -> Canary:
        canary = Canary()
        self.started.append(canary)
        await canary.start(host, port)
        return canary


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    """A factory of real loopback receivers."""
    factory = Receivers()
    try:
        yield factory
    finally:
        for receiver in factory.started:
            await receiver.stop()


@pytest.fixture
async def receiver(receivers: Receivers) -> Receiver:
    """A receiver on 127.0.0.1 answering ``200 ok``."""
    return await receivers.start()


@pytest.fixture
async def canaries() -> AsyncIterator[Canaries]:
    """A factory of connection-counting listeners."""
    factory = Canaries()
    try:
        yield factory
    finally:
        for canary in factory.started:
            await canary.stop()


SenderFactory = Callable[..., Sender]


@pytest.fixture
async def make_sender() -> AsyncIterator[SenderFactory]:
    """Builds senders on real vetting sessions (closed at teardown).

    ``make_sender(resolver, allowed=LOOPBACK, timeout=5.0, user_agent="Hookline/test")``.
    """
    senders: list[Sender] = []

    def build(
        resolver: ssrf.Resolver,
        *,
        allowed: Sequence[ssrf.IPNetwork] = LOOPBACK,
        timeout: float = 5.0,
        user_agent: str = "Hookline/test",
    ) -> Sender:
        session = make_session(resolver=resolver, allowed=allowed, limit=10)
        sender = Sender(session, timeout=timeout, allowed=allowed, user_agent=user_agent)
        senders.append(sender)
        return sender

    try:
        yield build
    finally:
        for sender in senders:
            await sender.close()
