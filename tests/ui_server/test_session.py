"""Signing in and out of the web UI: the key check, the session cookie and its CSRF token."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from tests.ui_server.conftest import Keys, by_testid, csrf_of, sign_in, text_of, token

from hookline.api.app import create_app
from hookline.runtime import Services
from hookline.ui.session import SESSION_SECONDS, CookieSigner

PAGES = ("/ui/webhooks", "/ui/webhooks/new", "/ui/logs", "/ui/status")


async def test_login_page_has_the_form_and_the_page_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/ui/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    found = by_testid(page.text)
    assert found["login-key"][0]["attrs"]["name"] == "api_key"
    assert "login-submit" in found
    assert "login-error" not in found
    assert "logout" not in found  # no navigation before signing in
    assert csrf_of(page.text)
    assert "<script>" not in page.text  # the CSP forbids inline scripts: there are none


@pytest.mark.parametrize("path", PAGES)
async def test_pages_redirect_to_login_when_not_signed_in(
    client: httpx.AsyncClient, path: str
) -> None:
    answer = await client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login")


async def test_ui_root_leads_to_the_webhooks(client: httpx.AsyncClient) -> None:
    answer = await client.get("/ui/")
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/webhooks")
    bare = await client.get("/ui")
    assert bare.status_code in (301, 307, 308)
    assert bare.headers["location"].endswith("/ui/")


async def test_admin_signs_in_with_a_strict_httponly_cookie_holding_no_key(
    client: httpx.AsyncClient, acme: Keys
) -> None:
    answer = await sign_in(client, acme.admin)
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/webhooks")
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("hookline_session=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/ui" in cookie
    assert f"Max-Age={SESSION_SECONDS}" in cookie or f"Max-Age={SESSION_SECONDS - 1}" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert acme.admin not in value
    payload = json.loads(base64.urlsafe_b64decode(value.split(".")[0] + "=="))
    assert set(payload) == {"h", "n", "e"}
    assert acme.admin not in json.dumps(payload)

    page = await client.get("/ui/webhooks")
    assert page.status_code == 200
    assert text_of(page.text, "tenant-name") == "acme"
    assert text_of(page.text, "role") == "admin"
    nav = page.text.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
    for target in ("/ui/webhooks", "/ui/logs", "/ui/status"):
        assert nav.count(f'href="{target}"') == 1


async def test_login_goes_back_to_the_page_asked_for(client: httpx.AsyncClient, acme: Keys) -> None:
    first = await client.get("/ui/logs?success=false")
    assert first.headers["location"] == "/ui/login?next=%2Fui%2Flogs%3Fsuccess%3Dfalse"
    page = await client.get(first.headers["location"])
    answer = await client.post(
        "/ui/login",
        data={
            "api_key": acme.viewer,
            "csrf_token": csrf_of(page.text),
            "next": "/ui/logs?success=false",
        },
    )
    assert answer.headers["location"] == "/ui/logs?success=false"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/x"])
async def test_login_never_sends_the_browser_elsewhere(
    client: httpx.AsyncClient, acme: Keys, target: str
) -> None:
    page = await client.get("/ui/login")
    answer = await client.post(
        "/ui/login", data={"api_key": acme.admin, "csrf_token": csrf_of(page.text), "next": target}
    )
    assert answer.headers["location"] == "/ui/webhooks"


async def test_unknown_and_publisher_keys_are_refused_with_a_message(
    client: httpx.AsyncClient, acme: Keys
) -> None:
    unknown = await sign_in(client, "hk_not-a-real-key")
    assert unknown.status_code == 401
    assert "unknown" in text_of(unknown.text, "login-error")
    assert "hk_not-a-real-key" not in unknown.text  # the typed key is not echoed back

    publisher = await sign_in(client, acme.publisher)
    assert publisher.status_code == 403
    assert "publisher" in text_of(publisher.text, "login-error").lower()

    empty = await sign_in(client, "   ")
    assert empty.status_code == 400
    for answer in (unknown, publisher, empty):
        assert not [c for c in answer.headers.get_list("set-cookie") if "hookline_session=e" in c]
    assert (await client.get("/ui/webhooks")).status_code == 303


async def test_login_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    await client.get("/ui/login")
    answer = await client.post("/ui/login", data={"api_key": acme.admin})
    assert answer.status_code == 403
    assert "expired" in text_of(answer.text, "login-error")
    forged = await client.post("/ui/login", data={"api_key": acme.admin, "csrf_token": "x" * 64})
    assert forged.status_code == 403
    # A token from another browser's form does not fit this browser's nonce cookie.
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as other:
        stolen = csrf_of((await other.get("/ui/login")).text)
    answer = await client.post("/ui/login", data={"api_key": acme.admin, "csrf_token": stolen})
    assert answer.status_code == 403
    assert (await client.get("/ui/webhooks")).status_code == 303


async def test_sign_out_needs_the_token_and_ends_the_session(
    client: httpx.AsyncClient, acme: Keys
) -> None:
    await sign_in(client, acme.admin)
    refused = await client.post("/ui/logout", data={})
    assert refused.status_code == 403
    assert (await client.get("/ui/webhooks")).status_code == 200

    answer = await client.post("/ui/logout", data={"csrf_token": await token(client)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
    assert 'hookline_session=""' in answer.headers["set-cookie"] or (
        "Max-Age=0" in answer.headers["set-cookie"]
    )
    assert (await client.get("/ui/webhooks")).status_code == 303
    login = await client.get("/ui/login")
    assert "signed out" in text_of(login.text, "flash")


async def test_a_revoked_key_ends_the_session_at_once(
    client: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    issued = await services.accounts.create_key("acme", acme.principal.role)
    await sign_in(client, issued.plaintext)
    assert (await client.get("/ui/status")).status_code == 200
    await services.accounts.revoke_key(issued.key.id)
    answer = await client.get("/ui/status")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login")
    login = await client.get(answer.headers["location"])
    assert "revoked" in text_of(login.text, "flash")


async def test_tampered_and_expired_cookies_are_not_sessions(
    client: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    await sign_in(client, acme.admin)
    good = client.cookies["hookline_session"]
    body, mac = good.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))

    signer = CookieSigner(b"some other key" * 3)
    for value in (
        f"{body}.{mac[::-1]}",  # wrong signature
        signer.dumps("session", payload),  # signed with another key
        CookieSigner(services.session_key).dumps("flash", payload),  # another purpose
        CookieSigner(services.session_key).dumps("session", {**payload, "e": int(time.time())}),
        "garbage",
    ):
        client.cookies.set("hookline_session", value, domain="hookline.test", path="/ui")
        answer = await client.get("/ui/webhooks")
        assert answer.status_code == 303, value
        assert answer.headers["location"].startswith("/ui/login")
    client.cookies.set("hookline_session", good, domain="hookline.test", path="/ui")
    assert (await client.get("/ui/webhooks")).status_code == 200


async def test_session_key_is_derived_apart_from_the_passphrase(services: Services) -> None:
    assert len(services.session_key) == 32
    assert services.settings.secret_key is not None
    assert services.settings.secret_key.encode() not in services.session_key
