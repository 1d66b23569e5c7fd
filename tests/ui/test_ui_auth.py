"""Signing in and out, the session cookie, roles and CSRF in the admin UI."""

from __future__ import annotations

import base64
import re
import time

from playwright.async_api import expect
from tests.delivery.conftest import Receiver
from tests.e2e.conftest import ADMIN_KEY, free_port
from tests.ui.conftest import (
    UI,
    Server,
    Ui,
    detail_url,
    form_fields,
    post_from_page,
    row,
    toggle_form,
    wait_for_logs,
)

pytestmark = UI

LOGIN = re.compile(r"/ui/login(\?.*)?$")
LIST = re.compile(r"/ui/webhooks(\?.*)?$")


async def test_sign_in_refuses_a_bad_key_and_lets_the_admin_in(ui: Ui) -> None:
    page = await ui.page()
    await page.goto("/ui/login")
    form = page.locator("form").filter(has=page.get_by_test_id("login-key"))
    await expect(form.locator('input[type="hidden"][name="csrf_token"]')).to_have_count(1)
    await expect(page.get_by_test_id("login-key")).to_have_attribute("name", "api_key")

    await page.get_by_test_id("login-key").fill("hk_not-a-key-at-all")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_be_visible()
    await expect(page.get_by_test_id("login-error")).not_to_have_text("")
    assert LOGIN.search(page.url), page.url
    assert not [c for c in await page.context.cookies() if c["name"] == "hookline_session"]
    # The typed key is not echoed back into the page.
    assert "hk_not-a-key-at-all" not in await page.content()

    await page.get_by_test_id("login-key").fill(ADMIN_KEY)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(LIST)
    nav = page.locator("nav")
    for target in ("/ui/webhooks", "/ui/logs", "/ui/status"):
        await expect(nav.locator(f'a[href="{target}"]')).to_have_count(1)
    await expect(page.get_by_test_id("logout")).to_be_visible()
    await expect(page.get_by_test_id("new-webhook")).to_be_visible()


async def test_a_publisher_key_cannot_sign_in(ui: Ui, server: Server) -> None:
    key = server.cli("key", "create", "--tenant", "default", "--role", "publisher")
    page = await ui.page()
    await page.goto("/ui/login")
    await page.get_by_test_id("login-key").fill(key)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_contain_text("publisher")
    assert LOGIN.search(page.url), page.url
    assert not [c for c in await page.context.cookies() if c["name"] == "hookline_session"]


async def test_revoking_the_key_ends_its_session_at_once(ui: Ui, server: Server) -> None:
    made = server.cli_run("key", "create", "--tenant", "default", "--role", "admin")
    found = re.search(r"key (\S+) for tenant", made.stderr)
    assert found, made.stderr
    page = await ui.page(made.stdout.strip())
    await expect(page.get_by_test_id("new-webhook")).to_be_visible()
    server.cli("key", "revoke", found.group(1))
    await page.goto("/ui/webhooks")
    assert LOGIN.search(page.url), page.url
    await expect(page.get_by_test_id("login-key")).to_be_visible()


async def test_pages_redirect_to_login_when_not_signed_in(ui: Ui) -> None:
    page = await ui.page()
    for path in ("/ui/webhooks", "/ui/webhooks/new", "/ui/logs", "/ui/status"):
        await page.goto(path)
        assert LOGIN.search(page.url), (path, page.url)
        await expect(page.get_by_test_id("login-key")).to_be_visible()


async def test_session_cookie_is_httponly_strict_expiring_and_not_the_key(ui: Ui) -> None:
    page = await ui.page(ADMIN_KEY)
    cookies = [c for c in await page.context.cookies() if c["name"] == "hookline_session"]
    assert len(cookies) == 1, cookies
    cookie = cookies[0]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/" or cookie["path"].startswith("/ui")
    assert time.time() < cookie["expires"] < time.time() + 31 * 86400, cookie["expires"]
    # Scripts cannot read it, and it does not carry the API key itself.
    assert "hookline_session" not in await page.evaluate("document.cookie")
    value = cookie["value"]
    decoded = b"".join(
        base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        for part in re.findall(r"[A-Za-z0-9_-]{8,}", value)
        if len(part) % 4 != 1
    )
    assert ADMIN_KEY not in value
    assert ADMIN_KEY.encode() not in decoded


async def test_sign_out_ends_the_session(ui: Ui) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.get_by_test_id("logout").click()
    await page.wait_for_url(LOGIN)
    assert not [c for c in await page.context.cookies() if c["name"] == "hookline_session"]
    await page.goto("/ui/webhooks")
    assert LOGIN.search(page.url), page.url
    await page.goto("/ui/logs")
    assert LOGIN.search(page.url), page.url


async def test_viewer_reads_everything_but_sees_no_edit_controls(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook(
        "Viewer-visible SIEM", receiver.url("/viewer"), secret="viewer-test-secret"
    )
    await server.publish("ReportPublished", {"reportId": "R-viewer-1"})
    logs = await wait_for_logs(server, hook)

    page = await ui.page(server.viewer_key)
    listed = row(page, hook)
    await expect(listed).to_contain_text("Viewer-visible SIEM")
    await expect(listed).to_contain_text(receiver.url("/viewer"))
    for control in ("new-webhook", "toggle-enabled"):
        await expect(page.get_by_test_id(control)).to_have_count(0)

    await listed.locator(f'a[href="/ui/webhooks/{hook}"]').first.click()
    await page.wait_for_url(detail_url(hook))
    await expect(page.get_by_text("Viewer-visible SIEM").first).to_be_visible()
    for control in ("edit", "delete", "test-webhook", "reveal-secret", "toggle-enabled"):
        await expect(page.get_by_test_id(control)).to_have_count(0)
    assert "viewer-test-secret" not in await page.content()

    await page.goto("/ui/logs")
    log_row = page.locator(f'tr[data-testid="log-row"][data-log-id="{logs[0]["id"]}"]')
    await expect(log_row).to_be_visible()
    await page.goto(f"/ui/logs/{logs[0]['id']}")
    await expect(page.get_by_test_id("request-body")).to_contain_text("R-viewer-1")
    await expect(page.get_by_test_id("resend")).to_have_count(0)

    for path in ("/ui/webhooks/new", f"/ui/webhooks/{hook}/edit"):
        await page.goto(path)
        await expect(page.get_by_test_id("save")).to_have_count(0)


async def test_viewer_cannot_post_admin_actions_even_with_a_csrf_token(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Viewer cannot toggle", receiver.url("/viewer-post"))
    admin = await ui.page(ADMIN_KEY)
    action, fields = await toggle_form(admin, hook)
    fields.pop("csrf_token", None)

    viewer = await ui.page(server.viewer_key)
    token = await viewer.locator('input[name="csrf_token"]').first.input_value()
    assert token
    status = await post_from_page(viewer, action, {**fields, "csrf_token": token})
    assert status == 403, status
    assert (await server.call("GET", f"/api/internal/webhooks/{hook}"))["enabled"] is True
    # Control: the token was good (the refusal was the role): it signs the viewer out.
    logout_action, logout_fields = await form_fields(viewer.get_by_test_id("logout"))
    assert logout_fields["csrf_token"] == token
    assert await post_from_page(viewer, logout_action, logout_fields) in (200, 303)


async def test_forged_posts_without_a_csrf_token_are_refused(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("CSRF target", receiver.url("/csrf"))
    page = await ui.page(ADMIN_KEY)
    action, fields = await toggle_form(page, hook)
    token = fields.pop("csrf_token", "")
    assert token, f"the toggle form has no csrf_token: {fields}"

    # 1. A page of another origin on the same site (cookies go along) auto-submits a form.
    attacker = f"http://127.0.0.1:{free_port()}/attack"
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    await page.route(
        attacker,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<form id="f" method="post" action="{action}">{inputs}</form>'
            "<script>document.getElementById('f').submit()</script>",
        ),
    )
    async with page.expect_response(lambda r: r.url == action) as answer:
        await page.goto(attacker)
    assert (await answer.value).status == 403
    assert (await server.call("GET", f"/api/internal/webhooks/{hook}"))["enabled"] is True

    # 2. The same POST from the UI's own origin, without a token and with a wrong one.
    await page.goto("/ui/webhooks")
    assert await post_from_page(page, action, fields) == 403
    assert await post_from_page(page, action, {**fields, "csrf_token": token[::-1] + "x"}) == 403
    assert (await server.call("GET", f"/api/internal/webhooks/{hook}"))["enabled"] is True

    # 3. Delete, forged from the confirmation page without its token.
    await page.goto(f"/ui/webhooks/{hook}")
    await page.get_by_test_id("delete").click()
    delete_action, delete_fields = await form_fields(page.get_by_test_id("confirm-delete"))
    delete_fields.pop("csrf_token", None)
    assert await post_from_page(page, delete_action, delete_fields) == 403
    await server.call("GET", f"/api/internal/webhooks/{hook}")

    # Control: with the real token the same toggle goes through (so the 403s were the token).
    await page.goto("/ui/webhooks")
    assert await post_from_page(page, action, {**fields, "csrf_token": token}) in (200, 303)
    assert (await server.call("GET", f"/api/internal/webhooks/{hook}"))["enabled"] is False


async def test_another_tenant_sees_an_empty_state_and_not_our_webhooks(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    ours = await server.webhook("Default tenant only", receiver.url("/tenant"))
    server.cli("tenant", "create", "globex")
    key = server.cli("key", "create", "--tenant", "globex", "--role", "admin")
    page = await ui.page(key)
    await expect(page.get_by_test_id("empty-state")).to_be_visible()
    await expect(page.get_by_test_id("empty-state")).not_to_have_text("")
    await expect(page.get_by_test_id("webhook-row")).to_have_count(0)
    await expect(page.get_by_test_id("new-webhook")).to_be_visible()
    assert "Default tenant only" not in await page.content()
    answer = await page.goto(f"/ui/webhooks/{ours}")
    assert answer is not None
    assert answer.status == 404
