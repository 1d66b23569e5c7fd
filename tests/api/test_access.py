"""Who may call what (contract 2): keys, roles, tenant isolation, disabled tenants."""

from __future__ import annotations

import pytest

EVENTS = "/api/internal/webhookevents"
WEBHOOKS = "/api/internal/webhooks"

# route name -> (method, path with {id}, JSON body)
ROUTES = {
    "list event types": ("GET", EVENTS, None),
    "create webhook": (
        "POST",
        WEBHOOKS,
        {"name": "New", "url": "https://hooks.example.com/new", "events": ["ReportPublished"]},
    ),
    "list webhooks": ("GET", WEBHOOKS, None),
    "get webhook": ("GET", WEBHOOKS + "/{id}", None),
    "update webhook": ("PATCH", WEBHOOKS + "/{id}", {"name": "Changed"}),
    "delete webhook": ("DELETE", WEBHOOKS + "/{id}", None),
    "read secret": ("GET", WEBHOOKS + "/{id}/secret", None),
}

EXPECTED_STATUS = {
    "admin": {
        "list event types": 200,
        "create webhook": 201,
        "list webhooks": 200,
        "get webhook": 200,
        "update webhook": 200,
        "delete webhook": 204,
        "read secret": 200,
    },
    "viewer": {
        "list event types": 200,
        "create webhook": 403,
        "list webhooks": 200,
        "get webhook": 200,
        "update webhook": 403,
        "delete webhook": 403,
        "read secret": 403,
    },
    "publisher": {
        "list event types": 200,
        "create webhook": 403,
        "list webhooks": 403,
        "get webhook": 403,
        "update webhook": 403,
        "delete webhook": 403,
        "read secret": 403,
    },
}


async def call(api, route, headers, webhook_id):
    method, path, body = ROUTES[route]
    return await api.client.request(method, path.format(id=webhook_id), headers=headers, json=body)


async def snapshot(api, account):
    """Everything observable about an account's webhooks, secrets included."""
    webhooks = await api.all(account.admin)
    return [(w, await api.secret(account.admin, w["id"])) for w in webhooks]


@pytest.mark.parametrize("route", list(ROUTES))
async def test_each_role_gets_exactly_its_routes(api, acme, route):
    webhook = await api.create(acme.admin, secret="role-test-secret")
    for role in ["viewer", "publisher", "admin"]:  # admin last: it may delete the webhook
        before = await snapshot(api, acme)
        response = await call(api, route, acme.role(role), webhook["id"])
        status = EXPECTED_STATUS[role][route]
        assert response.status_code == status, (role, response.text)
        if status == 403:
            api.error(response, 403, "forbidden")
            assert await snapshot(api, acme) == before, role


BAD_AUTHORIZATIONS = {
    "no header": None,
    "empty header": "",
    "no key": "Bearer",
    "basic scheme": "Basic YWRtaW46YWRtaW4=",
    "no scheme": "hk_unknown",
    "unknown key": "Bearer hk_unknown-key-value",
    "huge key": "Bearer " + "k" * 5000,
    "control character": "Bearer hk_\x01abc",
}


@pytest.mark.parametrize("route", list(ROUTES))
async def test_missing_or_bad_keys_are_401(api, acme, route):
    webhook = await api.create(acme.admin)
    before = await snapshot(api, acme)
    cases = {
        name: {} if value is None else {"Authorization": value}
        for name, value in BAD_AUTHORIZATIONS.items()
    }
    cases["revoked key"] = acme.revoked
    for case, headers in cases.items():
        response = await call(api, route, headers, webhook["id"])
        assert response.status_code == 401, (case, response.text)
        api.error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer", case
    assert await snapshot(api, acme) == before


async def test_unauthenticated_malformed_body_is_401_not_400(api, acme):
    response = await api.client.post(WEBHOOKS, content=b"{not json", headers={})
    api.error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "route", ["get webhook", "update webhook", "delete webhook", "read secret"]
)
@pytest.mark.parametrize("role", ["admin", "viewer"])
async def test_another_tenants_webhook_is_404(api, acme, other, route, role):
    theirs = await api.create(other.admin, secret="other-tenant-secret")
    before = await snapshot(api, other)
    response = await call(api, route, acme.role(role), theirs["id"])
    expected = 403 if (role == "viewer" and route != "get webhook") else 404
    api.error(response, expected, "forbidden" if expected == 403 else "not_found")
    assert await snapshot(api, other) == before


async def test_lists_show_only_the_callers_webhooks(api, acme, other):
    mine = await api.create(acme.admin, name="Mine")
    theirs = await api.create(other.admin, name="Theirs")
    assert await api.all(acme.admin) == [mine]
    assert await api.all(other.admin) == [theirs]
    response = await api.client.get(WEBHOOKS, headers=acme.viewer, params={"enabled": "true"})
    assert [w["id"] for w in response.json()["data"]] == [mine["id"]]


@pytest.mark.parametrize("route", list(ROUTES))
async def test_disabled_tenant_gets_webhooks_disabled_everywhere(api, acme, services, route):
    webhook = await api.create(acme.admin, secret="disabled-tenant-secret")
    before = await snapshot(api, acme)
    await services.accounts.set_tenant_enabled("acme", False)
    for role in ["admin", "publisher", "viewer"]:
        response = await call(api, route, acme.role(role), webhook["id"])
        assert response.status_code == 403, (role, response.text)
        api.error(response, 403, "webhooks_disabled")
    await services.accounts.set_tenant_enabled("acme", True)
    assert await snapshot(api, acme) == before


async def test_disabled_tenant_works_again_once_enabled(api, acme, other, services):
    webhook = await api.create(acme.admin)
    await services.accounts.set_tenant_enabled("acme", False)
    api.error(await api.client.get(WEBHOOKS, headers=acme.viewer), 403, "webhooks_disabled")
    # Another tenant is not affected.
    assert (await api.client.get(WEBHOOKS, headers=other.viewer)).status_code == 200
    await services.accounts.set_tenant_enabled("acme", True)
    # Delete last: the routes after it would rightly answer 404.
    for route, status in sorted(EXPECTED_STATUS["admin"].items(), key=lambda r: "delete" in r[0]):
        response = await call(api, route, acme.admin, webhook["id"])
        assert response.status_code == status, (route, response.text)
