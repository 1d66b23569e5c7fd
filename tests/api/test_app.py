"""The app around the routes: error envelope, health probes, OpenAPI, route order."""

from __future__ import annotations

import logging
import re

import pytest

from hookline.api.app import create_app
from hookline.api.publishing import RAW_PATHS


async def test_unknown_path_is_a_404_envelope(api):
    response = await api.client.get("/no/such/path")
    api.error(response, 404, "not_found")


async def test_unknown_api_path_is_404_even_with_a_key(api, acme):
    response = await api.client.get("/api/internal/nothing-here", headers=acme.admin)
    api.error(response, 404, "not_found")


async def test_wrong_method_is_405_with_allow(api, acme):
    response = await api.client.put("/api/internal/webhooks", headers=acme.admin, json={})
    api.error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_healthz_needs_no_key(api):
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_database_and_roles(api):
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "engine": "absent", "service": "absent"}


async def test_readyz_says_which_halves_run(api, services):
    # The role alone is not enough: "running" needs the engine's loop running (test_metrics.py).
    services.roles = {"api", "engine"}
    response = await api.client.get("/readyz")
    assert response.json() == {"database": "ok", "engine": "absent", "service": "absent"}


async def test_readyz_is_503_when_the_database_is_gone(api, services):
    await services.store.close()
    response = await api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"database": "unavailable", "engine": "absent", "service": "absent"}
    assert (await api.client.get("/healthz")).status_code == 200


async def test_database_gone_on_an_api_call_is_503_without_details(api, acme, services):
    await services.store.close()
    response = await api.client.get("/api/internal/webhooks", headers=acme.admin)
    body = api.error(response, 503, "database_unavailable")
    assert services.settings.database_url.split("///")[-1] not in body["error"]["message"]


async def test_unexpected_error_is_a_logged_500_without_secrets(api, acme, services, caplog):
    async def broken():
        raise RuntimeError("boom: internal detail")

    services.catalog.list_types = broken
    with caplog.at_level(logging.ERROR, logger="hookline.api"):
        response = await api.client.get("/api/internal/webhookevents", headers=acme.admin)
    api.error(response, 500, "internal_error")
    assert response.json()["error"]["message"] == "internal error"
    assert "boom" not in response.text
    records = [r for r in caplog.records if r.name == "hookline.api"]
    assert len(records) == 1
    assert "GET" in records[0].getMessage()
    assert "/api/internal/webhookevents" in records[0].getMessage()
    key = acme.admin["Authorization"].split()[1]
    assert key not in caplog.text


async def test_logged_path_cannot_forge_log_lines(api, acme, services, caplog):
    async def broken(principal, webhook_id):
        raise RuntimeError("boom")

    services.webhooks.get = broken
    with caplog.at_level(logging.ERROR, logger="hookline.api"):
        path = "/api/internal/webhooks/wh_1%0aCRITICAL forged line"
        response = await api.client.get(path, headers=acme.admin)
    api.error(response, 500, "internal_error")
    [record] = [r for r in caplog.records if r.name == "hookline.api"]
    assert "\n" not in record.getMessage()
    assert "wh_1\\nCRITICAL" in record.getMessage()


async def test_openapi_document_lists_the_routes_and_their_errors(api):
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Hookline"
    paths = document["paths"]
    assert set(paths) >= {
        "/api/internal/webhookevents",
        "/api/internal/webhooks",
        "/api/internal/webhooks/{id}",
        "/api/internal/webhooks/{id}/secret",
        "/healthz",
        "/readyz",
    }
    assert set(paths["/api/internal/webhooks/{id}"]) == {"get", "patch", "delete"}
    create = paths["/api/internal/webhooks"]["post"]
    assert set(create["responses"]) == {"201", "400", "401", "403", "413", "503"}
    assert create["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    body_schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert set(body_schema["required"]) == {"name", "url", "events"}
    assert "clientCuids" in body_schema["properties"]
    assert create["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    out = document["components"]["schemas"]["WebhookOut"]["properties"]
    assert "secret" not in out
    assert "hasSecret" in out
    # Invalid parameters answer 400, so the document must not promise 422.
    assert '"422"' not in response.text


async def test_openapi_document_declares_what_every_route_can_answer(api):
    """What schemathesis checks a run against (tests/fuzz): an authenticated route can
    answer 401 (saying which scheme) and 503 when the store is down; made things are
    pointed at with Location; the limits the domain enforces are in the schemas."""
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if not operation.get("security"):
                assert "503" not in responses or path == "/readyz", (method, path)
                continue
            assert {"401", "503"} <= set(responses), (method, path)
            assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
    created = paths["/api/internal/webhooks"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    resent = paths["/api/internal/deliveries/{deliveryId}/resend"]["post"]["responses"]["202"]
    assert "Location" in resent["headers"]
    body = paths["/api/internal/webhooks"]["post"]["requestBody"]["content"]["application/json"]
    fields = body["schema"]["properties"]
    assert (fields["name"]["minLength"], fields["name"]["maxLength"]) == (1, 200)
    assert fields["url"]["maxLength"] == 2048
    assert fields["events"]["minItems"] == 1
    assert fields["events"]["uniqueItems"] is True
    assert fields["secret"]["anyOf"][0]["minLength"] == 8
    limit = next(
        p for p in paths["/api/internal/webhooks"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 200)


async def test_docs_page_is_served(api):
    response = await api.client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


async def route_serving(app, method, path):
    """The path template of the route the app dispatches ``method path`` to (no auth needed:
    the route is chosen before its handler runs)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("hookline.test", 80),
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    await app(scope, receive, send)
    return getattr(scope.get("route"), "path", None)


async def literal_paths_served_elsewhere(app):
    """Documented literal paths that another route (an earlier ``{id}`` one) swallows."""
    swallowed = []
    for path, operations in app.openapi()["paths"].items():
        if "{" in path:
            continue
        for method in operations:
            if method == "post" and path in RAW_PATHS:
                continue  # answered before routing, by RawPublish (tests/api/test_raw_publish.py)
            served = await route_serving(app, method.upper(), path)
            if served != path:
                swallowed.append((method.upper(), path, served))
    return swallowed


async def test_every_literal_path_is_served_by_its_own_route(services):
    """``/webhooks/{id}`` must not swallow literal siblings such as ``/webhooks/logs``."""
    assert await literal_paths_served_elsewhere(create_app(services)) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/internal/webhooks/export"), ("PATCH", "/api/internal/webhooks/test")],
)
async def test_route_order_check_catches_a_swallowed_literal(services, method, path):
    """The check above can fail: a literal route added after the ``{id}`` routes is swallowed."""
    app = create_app(services)
    app.add_api_route(path, lambda: None, methods=[method])
    app.openapi_schema = None
    assert await literal_paths_served_elsewhere(app) == [
        (method, path, "/api/internal/webhooks/{id}")
    ]


async def test_times_are_utc_milliseconds_with_z(api, acme):
    created = await api.create(acme.admin)
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    for webhook in [created, await api.get(acme.admin, created["id"]), *await api.all(acme.admin)]:
        assert pattern.match(webhook["createdAt"])
        assert pattern.match(webhook["updatedAt"])
