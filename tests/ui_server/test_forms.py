"""The webhook form and the other POSTs: the API's messages, CSRF refusals, role refusals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.ui_server.conftest import Keys, by_testid, csrf_of, sign_in, text_of, token

from hookline.domain.webhooks import WebhookDraft
from hookline.runtime import Services


def form(csrf: str, **fields: Any) -> dict[str, Any]:
    """A complete, valid webhook form; keyword arguments replace fields (None removes one)."""
    data: dict[str, Any] = {
        "csrf_token": csrf,
        "name": "Customer SIEM",
        "clients": "all",
        "client_cuids": "",
        "url": "https://hooks.example.com/siem",
        "events": ["ReportPublished"],
        "secret": "",
        "ssl_verification": "1",
        "enabled": "1",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


async def _hook(services: Services, keys: Keys, **fields: Any) -> str:
    draft = WebhookDraft(
        name=fields.pop("name", "Jira"),
        url="https://hooks.example.com/jira",
        events=("ReportPublished",),
        **fields,
    )
    return (await services.webhooks.create(keys.principal, draft)).id


async def test_create_through_the_form(
    admin: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    csrf = await token(admin, "/ui/webhooks/new")
    answer = await admin.post(
        "/ui/webhooks/new",
        data=form(
            csrf,
            clients="specific",
            client_cuids="acme-corp, globex\ninitech\n",
            events=["ReportPublished", "AssessmentSubmitted"],
            secret="generated-secret-0123456789",
            ssl_verification=None,
        ),
    )
    assert answer.status_code == 303, answer.text
    hook = answer.headers["location"].rsplit("/", 1)[1]
    stored = await services.webhooks.get(acme.principal, hook)
    assert stored.name == "Customer SIEM"
    assert stored.client_cuids == ("acme-corp", "globex", "initech")
    assert stored.events == ("ReportPublished", "AssessmentSubmitted")
    assert stored.ssl_verification is False
    assert stored.enabled is True
    assert services.webhooks.open_secret(stored) == "generated-secret-0123456789"
    page = await admin.get(answer.headers["location"])
    assert "created" in text_of(page.text, "flash")
    assert text_of(page.text, "signing-state") == "Signed"
    assert "generated-secret-0123456789" not in page.text
    again = await admin.get(answer.headers["location"])
    assert "flash" not in by_testid(again.text)  # shown once


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"url": "http://10.0.0.5/x", "events": []}, {"url": "not allowed", "events": "at least"}),
        ({"name": "", "url": "ftp://x"}, {"name": "empty", "url": "http"}),
        ({"secret": "short"}, {"secret": "at least 8"}),
        (
            {"clients": "specific", "client_cuids": " ", "secret": "short"},
            {"clientCuids": "client id", "secret": "8"},
        ),
        ({"events": ["NoSuchEvent"]}, {"events": "unknown event"}),
        ({"url": "https://nowhere.example.com/"}, {"url": "does not resolve"}),
    ],
)
async def test_validation_errors_show_next_to_their_fields_and_keep_the_input(
    admin: httpx.AsyncClient,
    services: Services,
    acme: Keys,
    fields: dict[str, Any],
    errors: dict[str, str],
) -> None:
    csrf = await token(admin, "/ui/webhooks/new")
    answer = await admin.post(
        "/ui/webhooks/new", data=form(csrf, **{"name": "Kept name", **fields})
    )
    assert answer.status_code == 400
    found = by_testid(answer.text)
    shown = {key.removeprefix("error-") for key in found if key.startswith("error-")}
    assert shown == set(errors), shown
    for field, fragment in errors.items():
        assert fragment in text_of(answer.text, f"error-{field}"), text_of(
            answer.text, f"error-{field}"
        )
    if "name" in fields:
        assert 'value=""' in answer.text
    else:
        assert 'value="Kept name"' in answer.text
    assert "save" in found
    assert (await services.webhooks.list_page(acme.principal)).items == []


async def test_edit_keeps_removes_or_replaces_the_secret(
    admin: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    hook = await _hook(services, acme, secret="jira-secret-0042", client_cuids=("acme",))
    page = await admin.get(f"/ui/webhooks/{hook}/edit")
    assert "jira-secret-0042" not in page.text
    assert text_of(page.text, "signing-state") == "Signed"
    assert 'value="specific" checked' in page.text
    csrf = csrf_of(page.text)

    kept = await admin.post(
        f"/ui/webhooks/{hook}/edit",
        data=form(csrf, name="Jira (renamed)", clients="specific", client_cuids="acme\nglobex"),
    )
    assert kept.status_code == 303
    stored = await services.webhooks.get(acme.principal, hook)
    assert (stored.name, stored.client_cuids) == ("Jira (renamed)", ("acme", "globex"))
    assert services.webhooks.open_secret(stored) == "jira-secret-0042"

    replaced = await admin.post(
        f"/ui/webhooks/{hook}/edit", data=form(csrf, secret="new-secret-99")
    )
    assert replaced.status_code == 303
    stored = await services.webhooks.get(acme.principal, hook)
    assert services.webhooks.open_secret(stored) == "new-secret-99"
    assert stored.client_cuids == ()

    removed = await admin.post(f"/ui/webhooks/{hook}/edit", data=form(csrf, remove_secret="1"))
    assert removed.status_code == 303
    assert not (await services.webhooks.get(acme.principal, hook)).has_secret
    page = await admin.get(f"/ui/webhooks/{hook}/edit")
    assert text_of(page.text, "signing-state") == "Unsigned"
    assert "remove_secret" not in page.text

    refused = await admin.post(f"/ui/webhooks/{hook}/edit", data=form(csrf, events=[]))
    assert refused.status_code == 400
    assert "at least one" in text_of(refused.text, "error-events")


async def test_toggle_and_delete(admin: httpx.AsyncClient, services: Services, acme: Keys) -> None:
    hook = await _hook(services, acme)
    csrf = await token(admin)
    toggle = {"csrf_token": csrf, "enabled": "false", "next": "/ui/webhooks?enabled=true"}
    answer = await admin.post(f"/ui/webhooks/{hook}/toggle", data=toggle)
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/webhooks?enabled=true")
    assert not (await services.webhooks.get(acme.principal, hook)).enabled
    again = await admin.post(f"/ui/webhooks/{hook}/toggle", data=toggle)  # a replay: no flip
    assert again.status_code == 303
    assert not (await services.webhooks.get(acme.principal, hook)).enabled
    listed = await admin.get("/ui/webhooks")
    assert "disabled" in text_of(listed.text, "flash")
    assert "Disabled" in by_testid(listed.text)["webhook-row"][0]["text"]

    confirm = await admin.get(f"/ui/webhooks/{hook}/delete")
    assert "confirm-delete" in by_testid(confirm.text)
    assert (await services.webhooks.list_page(acme.principal)).items  # not deleted by a GET
    answer = await admin.post(f"/ui/webhooks/{hook}/delete", data={"csrf_token": csrf})
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/webhooks")
    assert (await services.webhooks.list_page(acme.principal)).items == []
    assert "Deleted" in text_of((await admin.get("/ui/webhooks")).text, "flash")


async def test_posts_without_a_valid_csrf_token_are_refused(
    admin: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    hook = await _hook(services, acme)
    csrf = await token(admin)
    posts = [
        (f"/ui/webhooks/{hook}/toggle", {"enabled": "false"}),
        (f"/ui/webhooks/{hook}/delete", {}),
        (f"/ui/webhooks/{hook}/edit", form("", name="Forged")),
        ("/ui/webhooks/new", form("", name="Forged")),
        (f"/ui/webhooks/{hook}/reveal", {}),
        (f"/ui/webhooks/{hook}/test", {}),
        ("/ui/deliveries/dlv_x/resend", {}),
    ]
    for path, data in posts:
        for bad in (None, "", csrf[::-1], csrf + "0", "é" * 64):
            sent = {k: v for k, v in data.items() if k != "csrf_token"}
            if bad is not None:
                sent["csrf_token"] = bad
            answer = await admin.post(path, data=sent)
            assert answer.status_code == 403, (path, bad)
            assert "security token" in text_of(answer.text, "error-message")
    webhooks = (await services.webhooks.list_page(acme.principal)).items
    assert [(w.id, w.name, w.enabled) for w in webhooks] == [(hook, "Jira", True)]


async def test_a_token_of_another_session_is_refused(
    client: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    hook = await _hook(services, acme)
    await sign_in(client, acme.admin)
    old = await token(client)
    await client.post("/ui/logout", data={"csrf_token": old})
    await sign_in(client, acme.admin)  # a new session has a new nonce
    answer = await client.post(
        f"/ui/webhooks/{hook}/toggle", data={"csrf_token": old, "enabled": "false"}
    )
    assert answer.status_code == 403
    assert (await services.webhooks.get(acme.principal, hook)).enabled


async def test_a_viewers_forged_posts_are_refused_by_the_services(
    client: httpx.AsyncClient, services: Services, acme: Keys
) -> None:
    hook = await _hook(services, acme, secret="viewer-cannot-see")
    await sign_in(client, acme.viewer)
    csrf = await token(client)  # a valid token: the role is what refuses
    posts = [
        (f"/ui/webhooks/{hook}/toggle", {"enabled": "false"}),
        (f"/ui/webhooks/{hook}/delete", {}),
        (f"/ui/webhooks/{hook}/edit", form(csrf, name="Forged")),
        ("/ui/webhooks/new", form(csrf, name="Forged")),
        (f"/ui/webhooks/{hook}/reveal", {}),
        (f"/ui/webhooks/{hook}/test", {}),
    ]
    for path, data in posts:
        answer = await client.post(path, data={**data, "csrf_token": csrf})
        assert answer.status_code == 403, path
        assert "viewer key may not" in text_of(answer.text, "error-message")
        assert "viewer-cannot-see" not in answer.text
    webhooks = (await services.webhooks.list_page(acme.principal)).items
    assert [(w.id, w.name, w.enabled) for w in webhooks] == [(hook, "Jira", True)]
