"""Fixtures for the web UI's server-side tests: the real app in-process, no browser.

Requests go through httpx's ASGI transport into ``create_app(services)`` (the API and the UI
mounted at ``/ui``), on SQLite: what the stores do is covered by ``tests/store`` on both
backends, and the browser behaviour by ``tests/ui`` (Playwright). Pages are read with a small
HTML parser that finds elements by their ``data-testid``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from tests.delivery.conftest import Receiver

from hookline.api.app import create_app
from hookline.config import Settings
from hookline.domain.deliveries import AttemptLog, Trigger
from hookline.domain.tenants import Principal, Role
from hookline.domain.times import utcnow
from hookline.domain.webhooks import WebhookDraft
from hookline.ids import IdPrefix, new_id
from hookline.runtime import Services, build_services
from hookline.services.deliveries import DeliveryQuery
from hookline.services.events import EventInput

DNS: dict[str, list[str]] = {
    "hooks.example.com": ["93.184.216.34"],
    "internal.example.com": ["10.0.0.5"],
}
BASE = "http://hookline.test"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


async def resolver(host: str, port: int) -> Sequence[str]:
    """Answers from DNS; any other name does not resolve."""
    try:
        return DNS[host]
    except KeyError:
        raise OSError(f"{host} does not resolve") from None


@pytest.fixture
async def services(sqlite_url: str) -> AsyncIterator[Services]:
    """Services on a fresh SQLite file; loopback allowed (for the test button's receiver)."""
    settings = Settings(
        database_url=sqlite_url,
        secret_key="ui-secret-key-" + "x" * 40,
        allowed_networks=(ip_network("127.0.0.0/8"),),
    )
    built = await build_services(settings, resolver=resolver)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (keeps cookies, does not follow redirects)."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real loopback HTTP receiver answering 200 with a JSON body."""
    target = Receiver("127.0.0.1", None)
    await target.start()
    target.reply(200, body=b'{"received":true}', headers={"Content-Type": "application/json"})
    try:
        yield target
    finally:
        await target.stop()


@dataclass(frozen=True)
class Keys:
    """One tenant's keys by role, and its admin principal (to arrange data via services)."""

    tenant: str
    admin: str
    viewer: str
    publisher: str
    principal: Principal


async def make_keys(services: Services, tenant: str) -> Keys:
    """A tenant with one key per role."""
    await services.accounts.create_tenant(tenant)
    made = {role: await services.accounts.create_key(tenant, role) for role in Role}
    principal = await services.accounts.authenticate(f"Bearer {made[Role.ADMIN].plaintext}")
    return Keys(
        tenant,
        made[Role.ADMIN].plaintext,
        made[Role.VIEWER].plaintext,
        made[Role.PUBLISHER].plaintext,
        principal,
    )


async def make_webhook(services: Services, keys: Keys, name: str = "SIEM", **fields: Any) -> str:
    """A webhook of ``keys``' tenant made through the service; its id."""
    draft = WebhookDraft(
        name=name, url="https://hooks.example.com/in", events=("ReportPublished",), **fields
    )
    return (await services.webhooks.create(keys.principal, draft)).id


async def seed_pages(services: Services, keys: Keys) -> list[str]:
    """Every page of the UI, with a webhook, a delivery and its logged attempt to show
    (index 2 is the webhook's page, 5 the attempt's)."""
    hook = await make_webhook(services, keys, secret="siem-secret-123")
    await services.events.publish(keys.principal, EventInput("ReportPublished", "c1", {"n": 1}))
    (delivery,) = (await services.deliveries.deliveries(keys.principal, DeliveryQuery())).items
    log = AttemptLog(
        id=new_id(IdPrefix.LOG),
        tenant_id=keys.principal.tenant.id,
        delivery_id=delivery.id,
        webhook_id=hook,
        event_id=delivery.event_id,
        event="ReportPublished",
        client_cuid="c1",
        attempt=1,
        trigger=Trigger.EVENT,
        url="https://hooks.example.com/in",
        request_headers={"Content-Type": "application/json", "X-Authorization-HMAC-256": "ab12"},
        request_body='{"id":"evt","data":{"n":1}}',
        status_code=500,
        response_headers={"Content-Type": "text/plain"},
        response_body="boom",
        duration_ms=12,
        success=False,
        error="Failed to call webhook: HTTP 500",
        created_at=utcnow(),
    )
    await services.store.insert_log(log)
    return [
        "/ui/webhooks",
        "/ui/webhooks?event=ReportPublished&enabled=true",
        f"/ui/webhooks/{hook}",
        "/ui/logs",
        f"/ui/logs?webhook_id={hook}&success=false&trigger=event&since=2000-01-01T00:00&tz=60",
        f"/ui/logs/{log.id}",
        "/ui/status",
    ]


@pytest.fixture
async def acme(services: Services) -> Keys:
    """The tenant most tests act as."""
    return await make_keys(services, "acme")


# -- reading pages ---------------------------------------------------------------------------
class _TestIds(HTMLParser):
    """Collects, per ``data-testid``, each element's attributes and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, list[dict[str, Any]]] = {}
        self._open: list[tuple[str, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        entry: dict[str, Any] = {"tag": tag, "attrs": values, "text": ""}
        testid = values.get("data-testid")
        if testid is not None:
            self.found.setdefault(testid, []).append(entry)
        if tag not in VOID:
            self._open.append((tag, entry))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for _, entry in self._open:
            entry["text"] += data


def by_testid(html: str) -> dict[str, list[dict[str, Any]]]:
    """Every element with a ``data-testid``, by id: ``{"tag", "attrs", "text"}``."""
    parser = _TestIds()
    parser.feed(html)
    return parser.found


def text_of(html: str, testid: str) -> str:
    """The whitespace-normalised text of the one element with this ``data-testid``."""
    found = by_testid(html).get(testid, [])
    assert len(found) == 1, (testid, len(found))
    return " ".join(str(found[0]["text"]).split())


def csrf_of(html: str) -> str:
    """The first CSRF token on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    """Signs in through the form; the answer to the POST."""
    page = await client.get("/ui/login")
    assert page.status_code == 200, page.text
    return await client.post("/ui/login", data={"api_key": key, "csrf_token": csrf_of(page.text)})


@pytest.fixture
async def admin(client: httpx.AsyncClient, acme: Keys) -> httpx.AsyncClient:
    """The client, signed in with acme's admin key."""
    answer = await sign_in(client, acme.admin)
    assert answer.status_code == 303, answer.text
    return client


async def token(client: httpx.AsyncClient, path: str = "/ui/webhooks") -> str:
    """This session's CSRF token, as a page of ``path`` carries it."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
