"""Managing webhooks in the admin UI: list, create, validate, edit, toggle, test, delete."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Page, expect
from tests.delivery.conftest import Receiver
from tests.e2e.conftest import ADMIN_KEY, free_port
from tests.ui.conftest import (
    PHONE,
    UI,
    Server,
    Ui,
    detail_url,
    requests_to,
    row,
    webhook_id_from,
)

pytestmark = UI

DETAIL = re.compile(r"/ui/webhooks/(?!new\b)[^/?#]+/?(\?.*)?$")
LIST = re.compile(r"/ui/webhooks/?(\?.*)?$")
SIGNED = re.compile(r"\bSigned\b")
UNSIGNED = re.compile(r"\bUnsigned\b")
CATALOGUE = ("ReportPublished", "AssessmentSubmitted", "EngagementRequested")


async def save(page: Page) -> int:
    """Clicks save; the status of the POST it sends."""
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_test_id("save").click()
    status = (await answer.value).status
    await page.wait_for_load_state()
    return status


async def test_create_a_signed_webhook_through_the_form(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.get_by_test_id("new-webhook").click()
    await page.wait_for_url("**/ui/webhooks/new")
    # Defaults: all clients, SSL verification on, enabled, unsigned; the whole catalogue offered.
    await expect(page.locator('input[name="clients"][value="all"]')).to_be_checked()
    await expect(page.locator('input[name="ssl_verification"]')).to_be_checked()
    await expect(page.locator('input[name="enabled"]')).to_be_checked()
    for event in CATALOGUE:
        await expect(page.locator(f'input[name="events"][value="{event}"]')).to_have_count(1)
    await expect(page.get_by_test_id("signing-state")).to_have_text(UNSIGNED)
    form = page.locator("form").filter(has=page.get_by_test_id("save"))
    await expect(form.locator('input[type="hidden"][name="csrf_token"]')).to_have_count(1)

    url = receiver.url("/created")
    await page.locator('[name="name"]').fill("Customer SIEM (form)")
    await page.locator('[name="url"]').fill(url)
    await page.locator('input[name="events"][value="ReportPublished"]').check()
    await page.get_by_test_id("generate-secret").click()
    await expect(page.get_by_test_id("signing-state")).to_have_text(SIGNED)
    secret = await page.locator('[name="secret"]').input_value()
    assert len(secret) >= 16, secret

    assert await save(page) in (200, 303)
    await page.wait_for_url(DETAIL)
    hook = webhook_id_from(page.url)
    await expect(page.get_by_test_id("flash")).to_be_visible()
    await expect(page.locator("body")).to_contain_text("Customer SIEM (form)")
    await expect(page.locator("body")).to_contain_text(url)
    assert secret not in await page.content()

    stored = await server.call("GET", f"/api/internal/webhooks/{hook}")
    assert stored["name"] == "Customer SIEM (form)"
    assert stored["url"] == url
    assert stored["events"] == ["ReportPublished"]
    assert stored["clientCuids"] == []
    assert stored["hasSecret"] is True
    assert stored["sslVerification"] is True
    assert stored["enabled"] is True
    assert (await server.call("GET", f"/api/internal/webhooks/{hook}/secret")) == {"secret": secret}


async def test_a_refused_url_shows_its_error_and_keeps_what_was_typed(
    ui: Ui, server: Server
) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/webhooks/new")
    await page.locator('[name="name"]').fill("Internal ticketing")
    await page.locator('[name="url"]').fill("http://10.0.0.5/x")
    await page.locator('input[name="events"][value="AssessmentSubmitted"]').check()
    assert await save(page) == 400
    error = page.get_by_test_id("error-url")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("10.0.0.5")
    await expect(error).to_contain_text("not allowed")
    await expect(page.locator('[name="name"]')).to_have_value("Internal ticketing")
    await expect(page.locator('[name="url"]')).to_have_value("http://10.0.0.5/x")
    await expect(page.locator('input[name="events"][value="AssessmentSubmitted"]')).to_be_checked()
    await expect(page.locator('input[name="events"][value="ReportPublished"]')).not_to_be_checked()
    await expect(page.get_by_test_id("error-events")).to_have_count(0)
    assert "Internal ticketing" not in [w["name"] for w in await server.webhooks()]


async def test_no_events_shows_its_error_and_stores_nothing(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/webhooks/new")
    await page.locator('[name="name"]').fill("Nothing subscribed")
    await page.locator('[name="url"]').fill(receiver.url("/no-events"))
    assert await save(page) == 400
    await expect(page.get_by_test_id("error-events")).to_be_visible()
    await expect(page.get_by_test_id("error-events")).to_contain_text("at least one")
    await expect(page.get_by_test_id("error-url")).to_have_count(0)
    await expect(page.locator('[name="name"]')).to_have_value("Nothing subscribed")
    await expect(page.locator('[name="url"]')).to_have_value(receiver.url("/no-events"))
    assert "Nothing subscribed" not in [w["name"] for w in await server.webhooks()]


async def test_a_short_secret_and_specific_clients_without_ids_are_refused(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/webhooks/new")
    await page.locator('[name="name"]').fill("Half-filled")
    await page.locator('[name="url"]').fill(receiver.url("/half"))
    await page.locator('input[name="events"][value="ReportPublished"]').check()
    await page.locator('[name="secret"]').fill("short")
    await page.locator('input[name="clients"][value="specific"]').check()
    await page.locator('[name="client_cuids"]').fill("")
    assert await save(page) == 400
    await expect(page.get_by_test_id("error-secret")).to_be_visible()
    # "Specific clients" with no ids must not silently become "all clients".
    await expect(page.get_by_test_id("error-clientCuids")).to_be_visible()
    await expect(page.locator('input[name="clients"][value="specific"]')).to_be_checked()
    assert "Half-filled" not in [w["name"] for w in await server.webhooks()]


async def test_edit_changes_name_and_clients_and_keeps_the_secret(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Jira sync", receiver.url("/edit"), secret="jira-secret-0042")
    page = await ui.page(ADMIN_KEY)
    await page.goto(f"/ui/webhooks/{hook}")
    await page.get_by_test_id("edit").click()
    await page.wait_for_url(f"**/ui/webhooks/{hook}/edit")
    await expect(page.locator('[name="name"]')).to_have_value("Jira sync")
    await expect(page.locator('[name="url"]')).to_have_value(receiver.url("/edit"))
    await expect(page.locator('input[name="events"][value="ReportPublished"]')).to_be_checked()
    await expect(page.get_by_test_id("signing-state")).to_have_text(SIGNED)
    await expect(page.locator('[name="secret"]')).to_have_value("")
    assert "jira-secret-0042" not in await page.content()

    await page.locator('[name="name"]').fill("Jira sync (Acme, Globex)")
    await page.locator('input[name="clients"][value="specific"]').check()
    await page.locator('[name="client_cuids"]').fill("acme-corp\nglobex")
    await page.locator('input[name="events"][value="AssessmentSubmitted"]').check()
    assert await save(page) in (200, 303)
    await page.wait_for_url(detail_url(hook))
    await expect(page.get_by_test_id("flash")).to_be_visible()
    await expect(page.locator("body")).to_contain_text("Jira sync (Acme, Globex)")
    await expect(page.locator("body")).to_contain_text("acme-corp")

    stored = await server.call("GET", f"/api/internal/webhooks/{hook}")
    assert stored["name"] == "Jira sync (Acme, Globex)"
    assert stored["clientCuids"] == ["acme-corp", "globex"]
    assert sorted(stored["events"]) == ["AssessmentSubmitted", "ReportPublished"]
    assert stored["hasSecret"] is True
    secret = await server.call("GET", f"/api/internal/webhooks/{hook}/secret")
    assert secret == {"secret": "jira-secret-0042"}

    # Removing the secret makes it unsigned.
    await page.get_by_test_id("edit").click()
    await page.locator('input[name="remove_secret"]').check()
    assert await save(page) in (200, 303)
    await page.wait_for_url(detail_url(hook))
    stored = await server.call("GET", f"/api/internal/webhooks/{hook}")
    assert stored["hasSecret"] is False
    assert stored["clientCuids"] == ["acme-corp", "globex"]
    await page.get_by_test_id("edit").click()
    await expect(page.get_by_test_id("signing-state")).to_have_text(UNSIGNED)


async def test_toggle_disables_and_enables_from_the_list(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Toggle me", receiver.url("/toggle"))
    page = await ui.page(ADMIN_KEY)
    listed = row(page, hook)
    await expect(listed).to_contain_text("Toggle me")
    await expect(listed).not_to_contain_text(re.compile(r"\bdisabled\b", re.IGNORECASE))

    await listed.get_by_test_id("toggle-enabled").click()
    await expect(listed).to_contain_text(re.compile(r"\bdisabled\b", re.IGNORECASE))
    assert (await server.call("GET", f"/api/internal/webhooks/{hook}"))["enabled"] is False

    await listed.get_by_test_id("toggle-enabled").click()
    await expect(listed).not_to_contain_text(re.compile(r"\bdisabled\b", re.IGNORECASE))
    await expect(listed).to_contain_text(re.compile(r"\benabled\b", re.IGNORECASE))
    assert (await server.call("GET", f"/api/internal/webhooks/{hook}"))["enabled"] is True


async def test_test_button_shows_the_receivers_answer(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Tested", receiver.url("/tested"), secret="tested-secret-01")
    page = await ui.page(ADMIN_KEY)
    await page.goto(f"/ui/webhooks/{hook}")
    before = len(requests_to(receiver, "/tested"))
    await page.get_by_test_id("test-webhook").click()
    result = page.get_by_test_id("test-result")
    await expect(result).to_be_visible()
    await expect(result).to_contain_text("200")
    await expect(result).to_contain_text(re.compile(r"\d+\s*ms"))
    await expect(result).to_contain_text("ui-test-receiver")
    got = requests_to(receiver, "/tested")
    assert len(got) == before + 1
    assert got[-1].method == "POST"
    assert got[-1].headers.get("x-authorization-hmac-256")


async def test_test_button_shows_the_error_of_a_dead_endpoint(ui: Ui, server: Server) -> None:
    hook = await server.webhook("Nobody home", f"http://127.0.0.1:{free_port()}/dead")
    page = await ui.page(ADMIN_KEY)
    await page.goto(f"/ui/webhooks/{hook}")
    await page.get_by_test_id("test-webhook").click()
    result = page.get_by_test_id("test-result")
    await expect(result).to_be_visible()
    await expect(result).to_contain_text("Failed to call webhook")


async def test_reveal_shows_the_stored_secret_only_on_request(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Revealed", receiver.url("/reveal"), secret="reveal-me-0123456")
    page = await ui.page(ADMIN_KEY)
    await page.goto(f"/ui/webhooks/{hook}")
    assert "reveal-me-0123456" not in await page.content()
    await expect(page.get_by_test_id("secret-value")).to_have_count(0)
    await page.get_by_test_id("reveal-secret").click()
    await expect(page.get_by_test_id("secret-value")).to_have_text("reveal-me-0123456")


async def test_delete_asks_for_confirmation_first(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Delete me", receiver.url("/delete"))
    page = await ui.page(ADMIN_KEY)
    await page.goto(f"/ui/webhooks/{hook}")
    await page.get_by_test_id("delete").click()
    await expect(page.get_by_test_id("confirm-delete")).to_be_visible()
    await expect(page.locator("body")).to_contain_text("Delete me")
    assert await server.status_of(f"/api/internal/webhooks/{hook}") == 200

    await page.get_by_test_id("confirm-delete").click()
    await page.wait_for_url(LIST)
    await expect(page.get_by_test_id("flash")).to_be_visible()
    await expect(row(page, hook)).to_have_count(0)
    assert await server.status_of(f"/api/internal/webhooks/{hook}") == 404


async def test_list_shows_url_events_and_clients(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    everyone = await server.webhook(
        "Everyone", receiver.url("/everyone"), ("ReportPublished", "EngagementRequested")
    )
    some = await server.webhook(
        "Some clients", receiver.url("/some"), clientCuids=["initech", "umbrella"]
    )
    page = await ui.page(ADMIN_KEY)
    await expect(row(page, everyone)).to_contain_text(receiver.url("/everyone"))
    await expect(row(page, everyone)).to_contain_text("EngagementRequested")
    await expect(row(page, everyone)).to_contain_text("All clients")
    await expect(row(page, some)).to_contain_text("initech")
    await expect(row(page, some)).to_contain_text("umbrella")
    await expect(row(page, some)).not_to_contain_text("All clients")
    link = row(page, some).locator(f'a[href="/ui/webhooks/{some}"]')
    await expect(link).to_contain_text("Some clients")


async def test_the_list_is_paged(ui: Ui, server: Server, receiver: Receiver) -> None:
    server.cli("tenant", "create", "paging")
    key = server.cli("key", "create", "--tenant", "paging", "--role", "admin")
    made = set(
        await asyncio.gather(
            *(server.webhook(f"Paged {i:02d}", receiver.url(f"/p{i}"), key=key) for i in range(60))
        )
    )
    page = await ui.page(key)
    seen: list[str] = []
    for _ in range(10):
        rows = page.locator('tr[data-testid="webhook-row"]')
        await expect(rows.first).to_be_visible()
        seen.extend([str(await r.get_attribute("data-webhook-id")) for r in await rows.all()])
        if not await page.get_by_test_id("next-page").count():
            break
        before = page.url
        await page.get_by_test_id("next-page").click()
        await page.wait_for_url(lambda url, before=before: url != before)
    assert len(seen) == len(set(seen)) == 60, seen
    assert set(seen) == made
    assert await page.get_by_test_id("next-page").count() == 0


async def test_pages_fit_a_phone_screen(ui: Ui, server: Server, receiver: Receiver) -> None:
    long_url = receiver.url("/" + "/".join(["a-rather-long-path-segment"] * 6) + "?tenant=acme")
    hook = await server.webhook(
        "Customer SIEM with a rather long descriptive name for phones",
        long_url,
        tuple(CATALOGUE),
        clientCuids=["acme-corporation-emea", "globex-international"],
    )
    page = await ui.page(ADMIN_KEY, phone=True)
    overflowing = {}
    for path in ("/ui/webhooks", f"/ui/webhooks/{hook}", "/ui/webhooks/new", "/ui/logs"):
        await page.goto(path)
        width = await page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            overflowing[path] = width
    assert not overflowing, f"pages wider than {PHONE['width']}px: {overflowing}"
