"""Fixtures of the security suite: whole Hookline stacks in one process, with fake DNS.

``make_stack(dns=..., allowed=..., engine=False, **settings)`` builds real services on the
test's database (``database_url``: SQLite and/or PostgreSQL), the real app behind an httpx ASGI
client, and optionally the delivery engine running in the background. DNS is the only thing
faked (:class:`~tests.delivery.conftest.FakeResolver`); connections are real, to loopback
receivers and canaries from ``tests/delivery/conftest.py``. Everything is stopped at teardown.

Backends: ``SQLITE``, ``POSTGRES`` and ``BOTH`` parametrize ``database_url`` explicitly, so that
each module says which stores it runs on.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from tests.api.conftest import Account, Api, make_account
from tests.conftest import BACKENDS, admin_execute, run_sync, with_database
from tests.delivery.conftest import (  # noqa: F401 (fixtures)
    Canaries,
    FakeResolver,
    Receivers,
    canaries,
    receivers,
)

from hookline.api.app import create_app
from hookline.config import Settings
from hookline.delivery import ssrf
from hookline.domain.tenants import Principal, Role
from hookline.runtime import Services, build_services

SECRET_KEY = "security-suite-secret-key-" + "k" * 24
WEBHOOKS = "/api/internal/webhooks"
TEST = WEBHOOKS + "/test"
LOGS = WEBHOOKS + "/logs"
DELIVERIES = "/api/internal/deliveries"
EVENTS = "/api/internal/events"
ONLY_127_0_0_1 = (ip_network("127.0.0.1/32"),)

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
BOTH = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


@dataclass
class Stack:
    """One Hookline deployment in this process."""

    services: Services
    client: httpx.AsyncClient
    resolver: FakeResolver
    api: Api
    engine_task: asyncio.Task[None] | None = None
    accounts: dict[str, Account] = field(default_factory=dict)

    async def account(self, name: str) -> Account:
        """A tenant with a key per role (created once)."""
        if name not in self.accounts:
            self.accounts[name] = await make_account(self.services, name)
        return self.accounts[name]

    async def principal(self, headers: Mapping[str, str]) -> Principal:
        """The principal behind an ``Authorization`` header."""
        return await self.services.accounts.authenticate(headers["Authorization"])

    async def admin_key(self, tenant: str) -> dict[str, str]:
        """A fresh admin key of ``tenant`` (its own rate-limit bucket)."""
        issued = await self.services.accounts.create_key(tenant, Role.ADMIN)
        return {"Authorization": f"Bearer {issued.plaintext}"}

    def start_engine(self) -> None:
        """Run the delivery engine in the background until teardown."""
        assert self.engine_task is None
        self.engine_task = asyncio.create_task(self.services.engine.run())

    async def stop_engine(self) -> None:
        """Stop the engine and wait for it to drain."""
        if self.engine_task is not None:
            self.services.engine.stop()
            await asyncio.wait_for(self.engine_task, 10)
            self.engine_task = None

    async def close(self) -> None:
        await self.stop_engine()
        await self.client.aclose()
        await self.services.close()


StackFactory = Callable[..., Awaitable[Stack]]


async def open_stack(
    database_url: str,
    *,
    dns: Mapping[str, Sequence[str]] | None = None,
    allowed: Sequence[ssrf.IPNetwork] = (),
    engine: bool = False,
    resolver: FakeResolver | None = None,
    **overrides: Any,
) -> Stack:
    """A stack on ``database_url``; the caller closes it. Settings default to a fast engine
    (1 s timeout, 1 retry, 50 ms backoff); keyword arguments replace them."""
    options: dict[str, Any] = {
        "delivery_timeout": 1.0,
        "max_retries": 1,
        "retry_base_delay": 0.05,
        "retry_max_delay": 1.0,
        "worker_concurrency": 16,
    }
    options.update(overrides)
    settings = Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        allowed_networks=tuple(allowed),
        **options,
    )
    resolver = resolver or FakeResolver(dns or {})
    services = await build_services(settings, resolver=resolver)
    transport = httpx.ASGITransport(app=create_app(services))
    client = httpx.AsyncClient(transport=transport, base_url="http://hookline.test")
    stack = Stack(services, client, resolver, Api(client, services))
    if engine:
        stack.start_engine()
    return stack


@pytest.fixture
async def make_stack(database_url: str) -> AsyncIterator[StackFactory]:
    """Builds stacks (see :func:`open_stack`) on this test's database; closes them all at
    teardown."""
    stacks: list[Stack] = []

    async def build(**options: Any) -> Stack:
        stack = await open_stack(database_url, **options)
        stacks.append(stack)
        return stack

    try:
        yield build
    finally:
        for stack in reversed(stacks):
            await stack.close()


@pytest.fixture(scope="module")
def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database shared by the tests of one module (indirect parameter: ``"sqlite"`` or
    ``"postgres"``), for modules that run many cheap cases against one deployment."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('security')}/hookline.db"
        return
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    template: str = request.getfixturevalue("postgres_template")
    name = f"hookline_s_{secrets.token_hex(6)}"
    create = f'CREATE DATABASE "{name}" TEMPLATE "{template}"'
    run_sync(lambda: admin_execute(admin_url, create))
    try:
        yield with_database(admin_url, name)
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        run_sync(lambda: admin_execute(admin_url, drop))


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s {what}".strip())
        await asyncio.sleep(0.02)


async def get_json(client: httpx.AsyncClient, path: str, headers: Mapping[str, str], **params: Any):
    """GET that must answer 200; its JSON."""
    response = await client.get(path, headers=dict(headers), params=params)
    assert response.status_code == 200, (path, response.text)
    return response.json()
