"""Every page answers for admins and viewers; viewers see no edit controls; tenants are apart."""

from __future__ import annotations

import httpx
from tests.ui_server.conftest import (
    Keys,
    by_testid,
    csrf_of,
    make_keys,
    make_webhook,
    seed_pages,
    sign_in,
    text_of,
)

from hookline.runtime import Services
from hookline.services.events import EventInput
from hookline.ui.render import pretty_body

EDIT_CONTROLS = (
    "new-webhook",
    "toggle-enabled",
    "edit",
    "delete",
    "test-webhook",
    "reveal-secret",
    "resend",
    "save",
)


async def test_every_page_answers_for_an_admin(
    admin: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    pages = await seed_pages(services, acme)
    hook = pages[2].rsplit("/", 1)[1]
    for path in [
        *pages,
        "/ui/webhooks/new",
        f"/ui/webhooks/{hook}/edit",
        f"/ui/webhooks/{hook}/delete",
    ]:
        answer = await admin.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["cache-control"] == "no-store"
        assert "logout" in by_testid(answer.text), path
    assert "siem-secret-123" not in (await admin.get(f"/ui/webhooks/{hook}/edit")).text


async def test_a_viewer_reads_every_page_without_edit_controls(
    client: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    pages = await seed_pages(services, acme)
    await sign_in(client, acme.viewer)
    for path in pages:
        answer = await client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        found = by_testid(answer.text)
        assert not [c for c in EDIT_CONTROLS if c in found], (path, sorted(found))
        assert "siem-secret-123" not in answer.text
    hook = pages[2].rsplit("/", 1)[1]
    for path in ("/ui/webhooks/new", f"/ui/webhooks/{hook}/edit", f"/ui/webhooks/{hook}/delete"):
        answer = await client.get(path)
        assert answer.status_code == 403, path
        assert "save" not in by_testid(answer.text)
        assert "viewer" in text_of(answer.text, "error-message")


async def test_the_list_shows_clients_activity_and_an_empty_state(
    admin: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    empty = await admin.get("/ui/webhooks")
    assert "Create" in text_of(empty.text, "empty-state")
    everyone = await make_webhook(services, acme, "Everyone")
    some = await make_webhook(services, acme, "Some", client_cuids=("initech", "umbrella"))
    page = await admin.get("/ui/webhooks")
    rows = {r["attrs"]["data-webhook-id"]: r for r in by_testid(page.text)["webhook-row"]}
    assert "All clients" in rows[everyone]["text"]
    assert "initech" in rows[some]["text"]
    assert "All clients" not in rows[some]["text"]
    assert f'href="/ui/webhooks/{some}"' in page.text
    assert "No attempts yet" in rows[some]["text"]
    filtered = await admin.get("/ui/webhooks?event=EngagementRequested")
    assert "No webhooks match" in text_of(filtered.text, "empty-state")
    bad = await admin.get("/ui/webhooks?enabled=maybe")
    assert bad.status_code == 400
    assert "true or false" in text_of(bad.text, "page-error")


async def test_the_list_is_paged(admin: httpx.AsyncClient, services: Services, acme: Keys) -> None:
    made = {await make_webhook(services, acme, f"Hook {i:02d}") for i in range(30)}
    seen: list[str] = []
    path: str | None = "/ui/webhooks"
    while path is not None:
        page = await admin.get(path)
        found = by_testid(page.text)
        seen += [r["attrs"]["data-webhook-id"] for r in found["webhook-row"]]
        path = (
            found["next-page"][0]["attrs"]["href"].replace("&amp;", "&")
            if "next-page" in found
            else None
        )
    assert len(seen) == len(set(seen)) == 30
    assert set(seen) == made


async def test_another_tenants_objects_are_not_found(
    client: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    pages = await seed_pages(services, acme)
    globex = await make_keys(services, "globex")
    await sign_in(client, globex.admin)
    listed = await client.get("/ui/webhooks")
    assert "webhook-row" not in by_testid(listed.text)
    assert "empty-state" in by_testid(listed.text)
    for path in (pages[2], pages[5], pages[2] + "/edit"):
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert "logout" in by_testid(answer.text)  # still inside the layout


async def test_text_is_escaped_and_json_bodies_are_indented(
    admin: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    hook = await make_webhook(services, acme, '<script>alert("x")</script>')
    page = await admin.get(f"/ui/webhooks/{hook}")
    assert '<script>alert("x")</script>' not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert (
        pretty_body('{"a":{"b":[1,"é"]}}')
        == '{\n  "a": {\n    "b": [\n      1,\n      "é"\n    ]\n  }\n}'
    )
    assert pretty_body("not json") == "not json"


async def test_unknown_pages_answer_an_html_404(admin: httpx.AsyncClient) -> None:
    answer = await admin.get("/ui/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "logout" in by_testid(answer.text)
    assert (await admin.get("/ui/logs/log_nope")).status_code == 404
    assert (await admin.get("/ui/webhooks/wh_nope")).status_code == 404
    css = await admin.get("/ui/static/hookline.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert (await admin.get("/ui/static/hookline.js")).status_code == 200


async def test_a_disabled_tenant_is_told_the_feature_is_off(
    client: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    hook = await make_webhook(services, acme)
    await services.events.publish(acme.principal, EventInput("ReportPublished", None, {}))
    await services.accounts.set_tenant_enabled("acme", False)
    assert (await sign_in(client, acme.admin)).status_code == 303
    status = await client.get("/ui/status")
    assert status.status_code == 200
    assert text_of(status.text, "feature-state") == "off"
    assert "feature-off" in by_testid(status.text)
    listed = await client.get("/ui/webhooks")
    assert listed.status_code == 403
    assert "disabled" in text_of(listed.text, "error-message")
    assert "logout" in by_testid(status.text)  # the sign-out form is still there
    answer = await client.post(
        f"/ui/webhooks/{hook}/toggle", data={"csrf_token": csrf_of(status.text), "enabled": "false"}
    )
    assert answer.status_code == 403
    assert "disabled for this account" in text_of(answer.text, "error-message")


async def test_status_page_numbers(
    admin: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    await make_webhook(services, acme)
    await services.events.publish(acme.principal, EventInput("ReportPublished", None, {}))
    page = await admin.get("/ui/status")
    assert text_of(page.text, "status-engine") == "not running"  # no engine in this process
    assert text_of(page.text, "status-service") == "not running"
    assert text_of(page.text, "queue-depth") == "1"
    assert text_of(page.text, "oldest-due").endswith(" s")
    assert text_of(page.text, "attempts-per-minute") == "0.0"
    assert text_of(page.text, "success-ratio") == "no attempts"
    assert text_of(page.text, "feature-state") == "on"
