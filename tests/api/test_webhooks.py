"""Webhook management through the API: create, read, list, update, delete, secrets (contract 3)."""

from __future__ import annotations

import re

import pytest

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ANSWER_FIELDS = {
    "id",
    "name",
    "url",
    "clientCuids",
    "events",
    "sslVerification",
    "enabled",
    "hasSecret",
    "createdAt",
    "updatedAt",
}
SECRET = "whsec-Zq8pL3vN1xR7tY2k"


def assert_webhook_shape(webhook):
    assert set(webhook) == ANSWER_FIELDS
    assert TIME.match(webhook["createdAt"]), webhook["createdAt"]
    assert TIME.match(webhook["updatedAt"]), webhook["updatedAt"]


async def test_create_answers_201_with_the_webhook_and_defaults(api, acme):
    body = api.body(name="Reports", events=["ReportPublished", "AssessmentSubmitted"])
    response = await api.client.post(api.base, headers=acme.admin, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert_webhook_shape(created)
    assert created["id"].startswith("wh_")
    assert response.headers["location"] == f"{api.base}/{created['id']}"
    assert created["name"] == "Reports"
    assert created["url"] == "https://hooks.example.com/hook"
    assert created["events"] == ["ReportPublished", "AssessmentSubmitted"]
    assert created["clientCuids"] == []
    assert created["sslVerification"] is True
    assert created["enabled"] is True
    assert created["hasSecret"] is False
    assert created["createdAt"] == created["updatedAt"]
    assert await api.all(acme.admin) == [created]
    assert await api.get(acme.admin, created["id"]) == created


async def test_create_keeps_every_field_given(api, acme):
    created = await api.create(
        acme.admin,
        clientCuids=["client-1", "client-2"],
        secret=SECRET,
        sslVerification=False,
        enabled=False,
    )
    assert created["clientCuids"] == ["client-1", "client-2"]
    assert created["sslVerification"] is False
    assert created["enabled"] is False
    assert created["hasSecret"] is True
    assert await api.get(acme.admin, created["id"]) == created


async def test_secret_is_never_answered_but_readable_by_admins(api, acme):
    response = await api.client.post(api.base, headers=acme.admin, json=api.body(secret=SECRET))
    assert response.status_code == 201
    assert SECRET not in response.text
    webhook_id = response.json()["id"]
    answers = [
        await api.client.get(f"{api.base}/{webhook_id}", headers=acme.admin),
        await api.client.get(api.base, headers=acme.admin),
        await api.client.get(f"{api.base}/{webhook_id}", headers=acme.viewer),
        await api.client.patch(f"{api.base}/{webhook_id}", headers=acme.admin, json={"name": "N"}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert SECRET not in answer.text
        assert '"secret"' not in answer.text
    assert await api.secret(acme.admin, webhook_id) == SECRET


async def test_secret_is_stored_encrypted(api, acme):
    created = await api.create(acme.admin, secret=SECRET)
    stored = await api.raw_secret_column(created["id"])
    assert stored is not None
    assert SECRET not in stored
    assert await api.secret(acme.admin, created["id"]) == SECRET


async def test_webhook_without_secret_has_null_secret(api, acme):
    created = await api.create(acme.admin)
    assert created["hasSecret"] is False
    assert await api.secret(acme.admin, created["id"]) is None
    assert await api.raw_secret_column(created["id"]) is None


async def test_patch_changes_only_the_fields_sent(api, acme):
    created = await api.create(acme.admin, secret=SECRET, clientCuids=["c1"])
    path = f"{api.base}/{created['id']}"
    response = await api.client.patch(path, headers=acme.admin, json={"name": "Renamed"})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert_webhook_shape(updated)
    unchanged = {k: v for k, v in created.items() if k not in {"name", "updatedAt"}}
    assert {k: v for k, v in updated.items() if k not in {"name", "updatedAt"}} == unchanged
    assert updated["name"] == "Renamed"
    assert updated["updatedAt"] >= created["updatedAt"]
    assert await api.get(acme.admin, created["id"]) == updated
    assert await api.secret(acme.admin, created["id"]) == SECRET


async def test_patch_can_change_every_field(api, acme):
    created = await api.create(acme.admin)
    changes = {
        "name": "All new",
        "url": "https://other.example.com/new",
        "clientCuids": ["c9"],
        "events": ["EngagementRequested"],
        "secret": SECRET,
        "sslVerification": False,
        "enabled": False,
    }
    path = f"{api.base}/{created['id']}"
    response = await api.client.patch(path, headers=acme.admin, json=changes)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "All new"
    assert updated["url"] == "https://other.example.com/new"
    assert updated["clientCuids"] == ["c9"]
    assert updated["events"] == ["EngagementRequested"]
    assert updated["hasSecret"] is True
    assert updated["sslVerification"] is False
    assert updated["enabled"] is False
    assert await api.get(acme.admin, created["id"]) == updated
    assert await api.secret(acme.admin, created["id"]) == SECRET


async def test_patch_with_empty_object_changes_nothing_but_answers(api, acme):
    created = await api.create(acme.admin)
    response = await api.client.patch(f"{api.base}/{created['id']}", headers=acme.admin, json={})
    assert response.status_code == 200, response.text
    assert {k: v for k, v in response.json().items() if k != "updatedAt"} == {
        k: v for k, v in created.items() if k != "updatedAt"
    }


async def test_patch_secret_null_removes_the_secret(api, acme):
    created = await api.create(acme.admin, secret=SECRET)
    path = f"{api.base}/{created['id']}"
    response = await api.client.patch(path, headers=acme.admin, json={"secret": None})
    assert response.status_code == 200, response.text
    assert response.json()["hasSecret"] is False
    assert (await api.get(acme.admin, created["id"]))["hasSecret"] is False
    assert await api.secret(acme.admin, created["id"]) is None
    assert await api.raw_secret_column(created["id"]) is None


async def test_patch_without_secret_keeps_it_and_a_new_secret_replaces_it(api, acme):
    created = await api.create(acme.admin, secret=SECRET)
    path = f"{api.base}/{created['id']}"
    await api.client.patch(path, headers=acme.admin, json={"enabled": False})
    assert await api.secret(acme.admin, created["id"]) == SECRET
    response = await api.client.patch(path, headers=acme.admin, json={"secret": "another-secret"})
    assert response.status_code == 200
    assert "another-secret" not in response.text
    assert await api.secret(acme.admin, created["id"]) == "another-secret"


async def test_delete_answers_204_then_the_webhook_is_gone(api, acme):
    created = await api.create(acme.admin)
    kept = await api.create(acme.admin, name="Kept")
    path = f"{api.base}/{created['id']}"
    response = await api.client.delete(path, headers=acme.admin)
    assert response.status_code == 204
    assert response.content == b""
    api.error(await api.client.get(path, headers=acme.admin), 404, "not_found")
    api.error(await api.client.get(path + "/secret", headers=acme.admin), 404, "not_found")
    api.error(
        await api.client.patch(path, headers=acme.admin, json={"name": "x"}), 404, "not_found"
    )
    api.error(await api.client.delete(path, headers=acme.admin), 404, "not_found")
    assert await api.all(acme.admin) == [kept]


@pytest.mark.parametrize("bad_id", ["wh_nope", "nope", "wh_" + "0" * 26, "wh_%00", "x" * 300])
async def test_unknown_ids_are_404_on_every_item_route(api, acme, bad_id):
    path = f"{api.base}/{bad_id}"
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("DELETE", "", None),
        ("GET", "/secret", None),
    ]:
        response = await api.client.request(method, path + suffix, headers=acme.admin, json=body)
        api.error(response, 404, "not_found")


# -- listing -----------------------------------------------------------------------------------
async def test_list_pages_through_every_webhook_once(api, acme):
    created = [(await api.create(acme.admin, name=f"Hook {i}"))["id"] for i in range(7)]
    pages, params = [], {"limit": 3}
    while True:
        response = await api.client.get(api.base, headers=acme.admin, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"data", "nextCursor"}
        pages.append([w["id"] for w in page["data"]])
        for webhook in page["data"]:
            assert_webhook_shape(webhook)
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]
        assert len(pages) < 5, "pagination does not end"
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == created  # oldest first, no overlap, none missing


async def test_list_of_exactly_one_page_has_no_next_cursor(api, acme):
    for i in range(3):
        await api.create(acme.admin, name=f"Hook {i}")
    response = await api.client.get(api.base, headers=acme.admin, params={"limit": 3})
    assert len(response.json()["data"]) == 3
    assert response.json()["nextCursor"] is None


async def test_list_filters_by_enabled_and_event(api, acme):
    on = await api.create(acme.admin, name="On", events=["ReportPublished"])
    off = await api.create(acme.admin, name="Off", enabled=False, events=["ReportPublished"])
    both = await api.create(acme.admin, events=["AssessmentSubmitted", "ReportPublished"])

    async def ids(**params):
        response = await api.client.get(api.base, headers=acme.admin, params=params)
        assert response.status_code == 200, response.text
        return [w["id"] for w in response.json()["data"]]

    assert await ids(enabled="false") == [off["id"]]
    assert await ids(enabled="true") == [on["id"], both["id"]]
    assert await ids(event="AssessmentSubmitted") == [both["id"]]
    assert await ids(event="ReportPublished", enabled="false") == [off["id"]]
    assert await ids(event="EngagementRequested") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"enabled": "maybe"}, "enabled"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"cursor": "not a cursor!"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"event": "Report\x00Published"}, "event"),
    ],
)
async def test_list_refuses_bad_parameters_naming_them(api, acme, params, field):
    await api.create(acme.admin)
    response = await api.client.get(api.base, headers=acme.admin, params=params)
    api.error(response, 400, "validation_error", field)


# -- catalogue -------------------------------------------------------------------------------
async def test_catalogue_lists_the_event_types(api, acme):
    response = await api.client.get("/api/internal/webhookevents", headers=acme.viewer)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    names = [entry["name"] for entry in data]
    assert {"ReportPublished", "AssessmentSubmitted", "EngagementRequested"} <= set(names)
    for entry in data:
        assert set(entry) == {"name", "description"}
        assert isinstance(entry["description"], str)


async def test_catalogue_follows_the_event_type_service(api, acme, services):
    await services.catalog.add("InvoicePaid", "An invoice was paid")
    await services.catalog.remove("EngagementRequested")
    response = await api.client.get("/api/internal/webhookevents", headers=acme.viewer)
    data = response.json()["data"]
    assert {"name": "InvoicePaid", "description": "An invoice was paid"} in data
    assert "EngagementRequested" not in [entry["name"] for entry in data]
    created = await api.create(acme.admin, events=["InvoicePaid"])
    assert created["events"] == ["InvoicePaid"]
    response = await api.client.post(
        api.base, headers=acme.admin, json=api.body(events=["EngagementRequested"])
    )
    api.error(response, 400, "validation_error", "events[0]")
