"""Delivery logs, resend and the status page in the admin UI."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from playwright.async_api import Page, expect
from tests.delivery.conftest import Receiver
from tests.e2e.conftest import ADMIN_KEY, free_port, wait_until
from tests.ui.conftest import (
    UI,
    Server,
    Ui,
    event_ids,
    log_url,
    requests_to,
    wait_for_logs,
)

pytestmark = UI

FILTERS = ("webhook_id", "event", "success", "trigger", "since", "until")


async def listed_logs(page: Page, query: str = "") -> list[str]:
    """The log ids ``/ui/logs?QUERY`` lists, in order."""
    await page.goto(f"/ui/logs{query}")
    rows = page.locator('tr[data-testid="log-row"]')
    return [str(await r.get_attribute("data-log-id")) for r in await rows.all()]


async def test_a_published_event_is_found_in_the_logs_with_its_body(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Customer SIEM", receiver.url("/logged"), secret="siem-secret-77")
    data = {"reportId": "RPT-2024-0815", "title": "External pentest Q3", "findings": 7}
    event_id = await server.publish("ReportPublished", data)
    await wait_until(lambda: event_id in event_ids(receiver, "/logged"), 10, "the delivery")
    log = (await wait_for_logs(server, hook))[0]
    assert log["eventId"] == event_id

    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/logs")
    listed = page.locator(f'tr[data-testid="log-row"][data-log-id="{log["id"]}"]')
    await expect(listed).to_be_visible()
    await expect(listed).to_contain_text("ReportPublished")
    await expect(listed).to_contain_text("200")

    await listed.locator(f'a[href="/ui/logs/{log["id"]}"]').first.click()
    await page.wait_for_url(log_url(log["id"]))
    body = await page.get_by_test_id("request-body").inner_text()
    assert '"reportId": "RPT-2024-0815"' in body, body  # pretty-printed: a space after ':'
    assert '"findings": 7' in body
    assert event_id in body
    assert body.count("\n") >= 5, body
    headers = page.get_by_test_id("request-headers")
    await expect(headers).to_contain_text(re.compile("X-Hookline-Event", re.IGNORECASE))
    await expect(headers).to_contain_text(re.compile("X-Authorization-HMAC-256", re.IGNORECASE))
    await expect(headers).not_to_contain_text("siem-secret-77")
    await expect(page.get_by_test_id("response-status")).to_contain_text("200")
    await expect(page.get_by_test_id("response-body")).to_contain_text("ui-test-receiver")


async def test_resend_delivers_the_event_again(ui: Ui, server: Server, receiver: Receiver) -> None:
    hook = await server.webhook("Jira sync", receiver.url("/resent"), ("EngagementRequested",))
    event_id = await server.publish("EngagementRequested", {"engagement": "ENG-31"})
    log = (await wait_for_logs(server, hook))[0]
    assert event_ids(receiver, "/resent") == [event_id]

    page = await ui.page(ADMIN_KEY)
    await page.goto(f"/ui/logs/{log['id']}")
    await page.get_by_test_id("resend").click()
    await expect(page.get_by_test_id("flash")).to_be_visible()
    await wait_until(lambda: len(event_ids(receiver, "/resent")) == 2, 10, "the resent delivery")
    first, second = requests_to(receiver, "/resent")
    assert second.body == first.body
    assert second.headers["x-hookline-delivery"] != first.headers["x-hookline-delivery"]
    logs = await wait_for_logs(server, hook, 2)
    assert [entry["trigger"] for entry in logs] == ["resend", "event"]


async def test_logs_filter_by_webhook_event_success_trigger_and_time(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    events = ("AssessmentSubmitted",)
    ok = await server.webhook("Filter ok", receiver.url("/f-ok"), events, clientCuids=["flt"])
    dead = f"http://127.0.0.1:{free_port()}/f-dead"
    bad = await server.webhook("Filter failing", dead, events, clientCuids=["flt"])
    await server.publish("AssessmentSubmitted", {"assessment": "A-9"}, client="flt")
    ok_ids = [entry["id"] for entry in await wait_for_logs(server, ok)]
    bad_ids = [entry["id"] for entry in await wait_for_logs(server, bad, 2)]  # 1 retry

    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/logs")
    for name in FILTERS:
        await expect(page.locator(f'[name="{name}"]').first).to_be_attached()

    # Through the form itself: pick the failing webhook, submit.
    control = page.locator('[name="webhook_id"]').first
    if await control.evaluate("el => el.tagName") == "SELECT":
        await control.select_option(bad)
    else:
        await control.fill(bad)
    await control.evaluate("el => el.form.requestSubmit()")
    await page.wait_for_url(re.compile(f"webhook_id={bad}"))
    rows = page.locator('tr[data-testid="log-row"]')
    await expect(rows).to_have_count(len(bad_ids))
    assert [await r.get_attribute("data-log-id") for r in await rows.all()] == bad_ids

    failed = await listed_logs(page, "?success=false")
    assert set(bad_ids) <= set(failed)
    assert not set(ok_ids) & set(failed)
    succeeded = await listed_logs(page, "?event=AssessmentSubmitted&success=true")
    assert set(ok_ids) <= set(succeeded)
    assert not set(bad_ids) & set(succeeded)
    assert not (set(ok_ids) | set(bad_ids)) & set(await listed_logs(page, "?trigger=test"))
    assert set(ok_ids) <= set(await listed_logs(page, "?trigger=event&event=AssessmentSubmitted"))
    assert await listed_logs(page, "?until=2000-01-01T00:00") == []
    assert await listed_logs(page, "?since=2100-01-01T00:00") == []
    assert set(ok_ids) <= set(await listed_logs(page, "?since=2000-01-01T00:00"))
    assert set(ok_ids) <= set(await listed_logs(page, "?until=2100-01-01T00:00"))


async def test_status_page_shows_engine_queue_and_throughput(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Status feed", receiver.url("/status"))
    await server.publish("ReportPublished", {"reportId": "RPT-status"})
    await wait_for_logs(server, hook)

    page = await ui.page(ADMIN_KEY)
    await page.goto("/ui/status")
    await expect(page.get_by_test_id("status-engine")).to_contain_text(
        re.compile("running", re.IGNORECASE)
    )
    await expect(page.get_by_test_id("status-service")).to_contain_text(
        re.compile("running", re.IGNORECASE)
    )
    await expect(page.get_by_test_id("feature-state")).to_contain_text(
        re.compile(r"\b(on|enabled)\b", re.IGNORECASE)
    )
    await expect(page.get_by_test_id("queue-depth")).to_contain_text(re.compile(r"\d"))
    await expect(page.get_by_test_id("oldest-due")).to_be_visible()
    await expect(page.get_by_test_id("attempts-per-minute")).to_contain_text(re.compile(r"\d"))
    ratio = re.compile(r"\d+(\.\d+)?\s*%")
    await expect(page.get_by_test_id("success-ratio")).to_contain_text(ratio)


async def test_times_are_shown_in_the_browsers_time_zone(
    ui: Ui, server: Server, receiver: Receiver
) -> None:
    hook = await server.webhook("Local time", receiver.url("/local-time"), ("EngagementRequested",))
    await server.publish("EngagementRequested", {"engagement": "ENG-tz"})
    log = (await wait_for_logs(server, hook))[0]
    utc = datetime.fromisoformat(log["createdAt"].replace("Z", "+00:00"))
    # India is UTC+05:30 all year: the minutes differ from UTC's, so UTC cannot pass for it.
    local = utc.astimezone(timezone(timedelta(hours=5, minutes=30))).strftime("%I:%M:%S %p")
    shown_utc = utc.strftime("%I:%M:%S %p")

    page = await ui.page(ADMIN_KEY, timezone="Asia/Kolkata")
    await page.goto(f"/ui/logs/{log['id']}")
    when = page.locator(f'time[datetime^="{log["createdAt"][:19]}"]').first
    await expect(when).to_contain_text(local)
    await expect(when).not_to_contain_text(shown_utc)
