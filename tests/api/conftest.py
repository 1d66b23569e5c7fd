"""Fixtures for the API tests: the real app on real stores (SQLite and PostgreSQL), with fake DNS.

``database_url`` (tests/conftest.py) runs every test once per store. Requests go through
httpx's ASGI transport: no sockets, but every middleware and handler of the real app.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from hookline.api.app import create_app
from hookline.config import Settings
from hookline.domain.tenants import Role
from hookline.runtime import Services, build_services

FAKE_DNS: dict[str, list[str]] = {
    "hooks.example.com": ["93.184.216.34"],
    "other.example.com": ["93.184.216.35"],
    "internal.example.com": ["10.0.0.5"],
    "mixed.example.com": ["93.184.216.34", "10.1.1.1"],
}

SECRET_KEY = "x" * 40


async def fake_resolver(host: str, port: int) -> Sequence[str]:
    """Answers from FAKE_DNS; any other name does not resolve."""
    try:
        return FAKE_DNS[host]
    except KeyError:
        raise OSError(f"{host} does not resolve") from None


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    """Services on a fresh, migrated database (SQLite or PostgreSQL)."""
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY, allowed_networks=())
    built = await build_services(settings, resolver=fake_resolver)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``create_app(services)`` in-process."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://hookline.test") as c:
        yield c


@dataclass(frozen=True)
class Account:
    """A tenant and an ``Authorization`` header for each of its roles."""

    name: str
    admin: dict[str, str]
    publisher: dict[str, str]
    viewer: dict[str, str]
    revoked: dict[str, str]  # an admin key that has been revoked

    def role(self, role: str) -> dict[str, str]:
        """The header of one role by name."""
        headers: dict[str, str] = getattr(self, role)
        return headers


async def make_account(services: Services, name: str) -> Account:
    """A tenant with one key per role, plus a revoked admin key."""
    await services.accounts.create_tenant(name)
    headers = {}
    for role in Role:
        issued = await services.accounts.create_key(name, role)
        headers[role.value] = {"Authorization": f"Bearer {issued.plaintext}"}
    revoked = await services.accounts.create_key(name, Role.ADMIN)
    await services.accounts.revoke_key(revoked.key.id)
    return Account(name, revoked={"Authorization": f"Bearer {revoked.plaintext}"}, **headers)


@pytest.fixture
async def acme(services: Services) -> Account:
    """The tenant most tests act as."""
    return await make_account(services, "acme")


@pytest.fixture
async def other(services: Services) -> Account:
    """A second tenant, for isolation tests."""
    return await make_account(services, "other")


def webhook_body(**overrides: Any) -> dict[str, Any]:
    """A valid create body; keyword arguments replace (or, with ``...``, remove) fields."""
    body: dict[str, Any] = {
        "name": "Reports",
        "url": "https://hooks.example.com/hook",
        "events": ["ReportPublished"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


class Api:
    """Short helpers over the client for the webhook routes."""

    base = "/api/internal/webhooks"

    def __init__(self, client: httpx.AsyncClient, services: Services) -> None:
        self.client = client
        self.services = services

    body = staticmethod(webhook_body)

    async def create(self, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
        """Create a webhook that must succeed; its answer."""
        response = await self.client.post(
            self.base, headers=headers, json=webhook_body(**overrides)
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def get(self, headers: dict[str, str], webhook_id: str) -> dict[str, Any]:
        """A webhook that must exist."""
        response = await self.client.get(f"{self.base}/{webhook_id}", headers=headers)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def all(self, headers: dict[str, str]) -> list[dict[str, Any]]:
        """Every webhook of the tenant, across pages."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 200}
        while True:
            response = await self.client.get(self.base, headers=headers, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["data"])
            if page["nextCursor"] is None:
                return found
            params["cursor"] = page["nextCursor"]

    async def secret(self, headers: dict[str, str], webhook_id: str) -> str | None:
        """The webhook's plaintext secret."""
        response = await self.client.get(f"{self.base}/{webhook_id}/secret", headers=headers)
        assert response.status_code == 200, response.text
        secret: str | None = response.json()["secret"]
        return secret

    async def raw_secret_column(self, webhook_id: str) -> str | None:
        """``webhooks.secret_enc`` as stored, read around the store."""
        url = self.services.settings.database_url
        if url.startswith("sqlite:///"):
            with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
                row = conn.execute(
                    "SELECT secret_enc FROM webhooks WHERE id = ?", (webhook_id,)
                ).fetchone()
            value: str | None = row[0]
            return value
        conn = await asyncpg.connect(url)
        try:
            stored: str | None = await conn.fetchval(
                "SELECT secret_enc FROM webhooks WHERE id = $1", webhook_id
            )
        finally:
            await conn.close()
        return stored

    @staticmethod
    def error(
        response: httpx.Response, status: int, code: str, field: str | None = None
    ) -> dict[str, Any]:
        """The response is the error envelope with this status and code (and names ``field``)."""
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"code", "message", "details"}, error
        assert error["code"] == code, error
        assert isinstance(error["message"], str), error
        assert error["message"], error
        assert "Traceback" not in response.text
        if field is not None:
            fields = [d["field"] for d in error["details"]]
            assert field in fields, error
        return body


@pytest.fixture
def api(client: httpx.AsyncClient, services: Services) -> Api:
    """Helpers for the webhook routes."""
    return Api(client, services)
