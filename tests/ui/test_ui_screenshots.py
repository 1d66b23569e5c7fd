"""The README's screenshots: each main page with realistic data, saved to docs/screenshots/.

One dataset for the module (webhooks such as "Customer SIEM" and "Jira sync", events delivered
to a healthy receiver and to a failing one); each test opens one page, checks what it must
show, and saves it at 1280x800 (the phone one at 390x844) under a fixed name.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from playwright.async_api import expect
from tests.delivery.conftest import Receiver
from tests.e2e.conftest import ADMIN_KEY
from tests.ui.conftest import PHONE, UI, Server, Ui, row, screenshot, wait_for_logs

pytestmark = UI


@dataclass
class Dataset:
    siem: str
    jira: str
    slack: str
    warehouse: str
    legacy: str
    siem_log: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def failing() -> AsyncIterator[Receiver]:
    """A receiver that answers 503, like a warehouse in maintenance."""
    target = Receiver("127.0.0.1", None)
    await target.start()
    target.reply(
        503,
        body=b'{"error":"ingest paused for maintenance"}',
        headers={"Content-Type": "application/json"},
    )
    try:
        yield target
    finally:
        await target.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dataset(server: Server, receiver: Receiver, failing: Receiver) -> Dataset:
    """Webhooks and deliveries that look like a real deployment."""
    siem = await server.webhook(
        "Customer SIEM",
        receiver.url("/siem/ingest/hookline"),
        ("ReportPublished", "AssessmentSubmitted"),
        secret="siem-shared-secret-2024",
    )
    jira = await server.webhook(
        "Jira sync",
        receiver.url("/jira/rest/webhooks/1.0/hookline"),
        ("EngagementRequested", "ReportPublished"),
        clientCuids=["acme-corp", "globex"],
        secret="jira-shared-secret-2024",
    )
    slack = await server.webhook(
        "Slack #pentest-reports", receiver.url("/slack/services/T024/B071"), ("ReportPublished",)
    )
    warehouse = await server.webhook(
        "Data warehouse export",
        failing.url("/warehouse/events"),
        ("ReportPublished", "AssessmentSubmitted", "EngagementRequested"),
        secret="warehouse-secret-2024",
    )
    legacy = await server.webhook(
        "Legacy ServiceNow bridge",
        receiver.url("/servicenow/api/now/hookline"),
        ("EngagementRequested",),
        enabled=False,
    )
    report = {
        "reportId": "RPT-2024-0815",
        "title": "External penetration test, Q3",
        "client": "Acme Corp",
        "findings": {"critical": 1, "high": 4, "medium": 9, "low": 12},
        "publishedBy": "j.doe@acme.example",
    }
    await server.publish("EngagementRequested", {"engagement": "ENG-2024-031"}, "acme-corp")
    await server.publish("AssessmentSubmitted", {"assessment": "ASM-77", "score": 82}, "globex")
    await server.publish("ReportPublished", report, "acme-corp")
    await wait_for_logs(server, siem, 2)
    await wait_for_logs(server, jira, 2)
    await wait_for_logs(server, slack, 1)
    await wait_for_logs(server, warehouse, 6)  # three events, one retry each
    siem_logs = await server.logs_of(siem, event="ReportPublished")
    return Dataset(siem, jira, slack, warehouse, legacy, siem_logs[0]["id"])


async def test_login_page(ui: Ui) -> None:
    page = await ui.page()
    await page.goto("/ui/login")
    await expect(page.get_by_test_id("login-key")).to_be_visible()
    await expect(page.get_by_test_id("login-submit")).to_be_visible()
    await screenshot(page, "login")


async def test_webhooks_page(ui: Ui, dataset: Dataset) -> None:
    page = await ui.page(ADMIN_KEY)
    await expect(page.locator('tr[data-testid="webhook-row"]')).to_have_count(5)
    await expect(row(page, dataset.siem)).to_contain_text("Customer SIEM")
    await expect(row(page, dataset.jira)).to_contain_text("acme-corp")
    await expect(row(page, dataset.legacy)).to_contain_text(re.compile("disabled", re.I))
    await screenshot(page, "webhooks")


async def test_webhooks_page_on_a_phone(ui: Ui, dataset: Dataset) -> None:
    page = await ui.page(ADMIN_KEY, phone=True)
    await expect(row(page, dataset.siem)).to_be_attached()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await screenshot(page, "webhooks-phone")


async def test_webhook_form_page(ui: Ui, receiver: Receiver, dataset: Dataset) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/webhooks/new")
    await page.locator('[name="name"]').fill("PagerDuty escalation")
    await page.locator('[name="url"]').fill(receiver.url("/pagerduty/v2/enqueue"))
    await page.locator('input[name="events"][value="ReportPublished"]').check()
    await page.locator('input[name="events"][value="EngagementRequested"]').check()
    await page.get_by_test_id("generate-secret").click()
    await expect(page.get_by_test_id("signing-state")).to_have_text(re.compile(r"\bSigned\b"))
    await page.evaluate("window.scrollTo(0, 0)")
    await screenshot(page, "webhook-form")


async def test_webhook_detail_page_with_a_test_result(ui: Ui, dataset: Dataset) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.goto(f"/ui/webhooks/{dataset.siem}")
    await page.get_by_test_id("test-webhook").click()
    await expect(page.get_by_test_id("test-result")).to_contain_text("200")
    await screenshot(page, "webhook-detail")


async def test_logs_page(ui: Ui, dataset: Dataset) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/logs")
    await expect(page.locator('tr[data-testid="log-row"]').first).to_be_visible()
    assert await page.locator('tr[data-testid="log-row"]').count() >= 11
    await screenshot(page, "logs")


async def test_log_detail_page(ui: Ui, dataset: Dataset) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.goto(f"/ui/logs/{dataset.siem_log}")
    body = page.get_by_test_id("request-body")
    await expect(body).to_contain_text('"reportId": "RPT-2024-0815"')
    await expect(page.get_by_test_id("response-status")).to_contain_text("200")
    # The pretty-printed body is the point of the page (instant: the CSS may scroll smoothly).
    await body.evaluate("el => el.scrollIntoView({block: 'end', behavior: 'instant'})")
    await screenshot(page, "log-detail")


async def test_status_page(ui: Ui, dataset: Dataset) -> None:
    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/status")
    await expect(page.get_by_test_id("status-engine")).to_contain_text(re.compile("running", re.I))
    await expect(page.get_by_test_id("success-ratio")).to_contain_text("%")
    await screenshot(page, "status")
