"""Tenant isolation (contract 2): every ``/api/`` route x every role x own / another tenant's ids.

The matrix is generated from the app's routes: ``CELLS`` is every ``(method, path)`` the API
router serves under ``/api/`` times the three roles times two variants, and
``test_every_api_route_is_in_the_matrix`` compares the live app's routes and OpenAPI document
with :data:`MATRIX`, so a new ``/api/`` route fails the suite until it is described here.

What each cell expects:

* ``own``: the caller's own objects. A role the contract grants the action gets the route's
  success status; any other role gets ``403 forbidden``.
* ``other``: the same request with the other tenant's ids (webhook, delivery, event, log,
  list cursor, ``Idempotency-Key``). A role granted the action gets exactly what it gets for an
  id that never existed (item routes: ``404 not_found``; filters: ``200`` and an empty page);
  a role NOT granted it gets ``403 forbidden``, identical to the answer for a missing id (the
  role check comes first and reveals nothing about the object). Requests that carry no id
  (create, list, publish) are sent as they are, and checked for leaks.

And for every cell: the answer contains nothing of the other tenant (ids, names, URL, secret,
except what the request itself carried), the other tenant's data is unchanged (a snapshot of
its webhooks, secrets, deliveries with their attempts, and logs, read with its own admin key),
and its receiver got nothing.

No ``/api/`` route takes a log id (logs are reached through webhook, event and delivery ids);
the other tenant's log ids are among the values that must never appear in an answer.

Role grants (contract 2 and ``hookline.domain.tenants``): ``admin`` everything; ``viewer`` reads
webhooks (no secrets), deliveries and logs; ``publisher`` publishes events only. The event
catalogue (``GET /webhookevents``) is readable by every role.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import fastapi.routing
import httpx
import pytest
import pytest_asyncio
from tests.api.conftest import Account, make_account
from tests.delivery.conftest import Receiver, Receivers
from tests.security.conftest import (
    DELIVERIES,
    EVENTS,
    LOGS,
    ONLY_127_0_0_1,
    TEST,
    WEBHOOKS,
    Stack,
    eventually,
    open_stack,
)

from hookline.api.app import create_app
from hookline.api.routes import api_router
from hookline.domain.paging import encode_cursor
from hookline.ids import IdPrefix, new_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROLES = ("admin", "publisher", "viewer")
VARIANTS = ("own", "other")
GRANTS = {
    "read": {"admin", "viewer"},
    "publish": {"admin", "publisher"},
    "manage": {"admin"},
    "any": {"admin", "publisher", "viewer"},
}


@dataclass(frozen=True)
class Ids:
    """The objects a request names."""

    webhook: str
    delivery: str
    event: str
    log: str
    cursor: str
    idempotency_key: str


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """How to call one route, and what it answers.

    Attributes:
        permission: Which grant the route needs (see ``GRANTS``).
        success: The status for a granted role on its own objects.
        other: The status for a granted role on the other tenant's ids.
        like_missing: Whether the other tenant's ids must answer exactly as never-existing
            ids do (False for requests whose answer carries fresh ids, or a cursor position).
        fresh: The own variant needs a webhook of its own (the call changes or deletes it).
        build: ``build(ids) -> Request``.
    """

    permission: str
    success: int
    other: int
    like_missing: bool
    build: Callable[[Ids], Request]
    fresh: bool = False


EVENT = {"event": "ReportPublished", "clientCuid": None, "data": {"matrix": True}}

MATRIX: dict[tuple[str, str], Operation] = {
    ("GET", "/api/internal/webhookevents"): Operation(
        "any", 200, 200, True, lambda ids: Request("GET", "/api/internal/webhookevents")
    ),
    ("POST", WEBHOOKS): Operation(
        "manage",
        201,
        201,
        False,
        lambda ids: Request(
            "POST",
            WEBHOOKS,
            json={
                "name": "matrix-created",
                "url": "http://acme-hooks.test/created",
                "events": ["ReportPublished"],
                "secret": "matrix-created-secret",
            },
        ),
    ),
    ("GET", WEBHOOKS): Operation(
        "read", 200, 200, False, lambda ids: Request("GET", WEBHOOKS, {"cursor": ids.cursor})
    ),
    ("GET", WEBHOOKS + "/{id}"): Operation(
        "read", 200, 404, True, lambda ids: Request("GET", f"{WEBHOOKS}/{ids.webhook}")
    ),
    ("PATCH", WEBHOOKS + "/{id}"): Operation(
        "manage",
        200,
        404,
        True,
        lambda ids: Request(
            "PATCH",
            f"{WEBHOOKS}/{ids.webhook}",
            json={"name": "renamed", "enabled": False, "secret": "matrix-patched-secret"},
        ),
        fresh=True,
    ),
    ("DELETE", WEBHOOKS + "/{id}"): Operation(
        "manage", 204, 404, True, lambda ids: Request("DELETE", f"{WEBHOOKS}/{ids.webhook}"), True
    ),
    ("GET", WEBHOOKS + "/{id}/secret"): Operation(
        "manage", 200, 404, True, lambda ids: Request("GET", f"{WEBHOOKS}/{ids.webhook}/secret")
    ),
    ("GET", WEBHOOKS + "/{id}/logs"): Operation(
        "read",
        200,
        404,
        True,
        lambda ids: Request("GET", f"{WEBHOOKS}/{ids.webhook}/logs", {"eventId": ids.event}),
    ),
    ("GET", LOGS): Operation(
        "read",
        200,
        200,
        True,
        lambda ids: Request("GET", LOGS, {"webhookId": ids.webhook, "eventId": ids.event}),
    ),
    ("POST", TEST): Operation(
        "manage",
        200,
        404,
        True,
        lambda ids: Request("POST", TEST, json={"webhookId": ids.webhook}),
    ),
    ("GET", DELIVERIES): Operation(
        "read",
        200,
        200,
        True,
        lambda ids: Request("GET", DELIVERIES, {"webhookId": ids.webhook, "eventId": ids.event}),
    ),
    ("GET", DELIVERIES + "/{deliveryId}"): Operation(
        "read", 200, 404, True, lambda ids: Request("GET", f"{DELIVERIES}/{ids.delivery}")
    ),
    ("POST", DELIVERIES + "/{deliveryId}/resend"): Operation(
        "manage", 202, 404, True, lambda ids: Request("POST", f"{DELIVERIES}/{ids.delivery}/resend")
    ),
    ("POST", EVENTS): Operation(
        "publish",
        202,
        202,
        False,
        lambda ids: Request(
            "POST", EVENTS, json=EVENT, headers={"Idempotency-Key": ids.idempotency_key}
        ),
    ),
    ("POST", EVENTS + "/batch"): Operation(
        "publish",
        202,
        202,
        False,
        lambda ids: Request(
            "POST",
            EVENTS + "/batch",
            json={"events": [EVENT, EVENT]},
            headers={"Idempotency-Key": ids.idempotency_key + "-batch"},
        ),
    ),
}


def api_operations(routes: Iterable[Any]) -> set[tuple[str, str]]:
    """Every ``(METHOD, path)`` under ``/api/`` that these routes serve."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI >= 0.130-ish
    found: set[tuple[str, str]] = set()
    for route in flatten(list(routes)) if flatten else routes:
        path = getattr(route, "path", None) or ""
        if path.startswith("/api/"):
            found |= {(m, path) for m in getattr(route, "methods", None) or () if m != "HEAD"}
    return found


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }


CELLS = [
    pytest.param(method, path, role, variant, id=f"{method} {path} {role} {variant}")
    for method, path in sorted(api_operations(api_router().routes))
    for role in ROLES
    for variant in VARIANTS
]


# --- the world: two tenants with webhooks, deliveries, attempts and logs --------------------


@dataclass
class World:
    stack: Stack
    acme: Account
    other: Account
    own: Ids
    theirs: Ids
    missing: Ids
    acme_receiver: Receiver
    other_receiver: Receiver
    other_markers: set[str]
    other_snapshot: dict[str, Any]
    fresh_names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.stack.client

    async def fresh_own_webhook(self) -> str:
        created = await self.stack.api.create(
            self.acme.admin,
            name=f"fresh-{next(self.fresh_names)}",
            url="http://acme-hooks.test/fresh",
            secret="acme-fresh-secret",
        )
        return str(created["id"])


async def collect(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[Any]:
    """Every item of a paged list."""
    items: list[Any] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        response = await client.get(path, headers=headers, params=params)
        assert response.status_code == 200, (path, response.text)
        page = response.json()
        items.extend(page["data"])
        if page["nextCursor"] is None:
            return items
        params["cursor"] = page["nextCursor"]


async def snapshot(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    """Everything the tenant's own admin key can read."""
    headers = account.admin
    webhooks = await collect(client, WEBHOOKS, headers)
    deliveries = await collect(client, DELIVERIES, headers)
    state: dict[str, Any] = {
        "webhooks": webhooks,
        "deliveries": deliveries,
        "logs": await collect(client, LOGS, headers),
    }
    for webhook in webhooks:
        base = f"{WEBHOOKS}/{webhook['id']}"
        state[base] = (await client.get(base, headers=headers)).json()
        state[base + "/secret"] = (await client.get(base + "/secret", headers=headers)).json()
        state[base + "/logs"] = await collect(client, base + "/logs", headers)
    for delivery in deliveries:
        path = f"{DELIVERIES}/{delivery['id']}"
        state[path] = (await client.get(path, headers=headers)).json()
    return state


async def populate(stack: Stack, account: Account, host: str, key: str) -> tuple[Ids, set[str]]:
    """Two webhooks, one published event delivered (one attempt log), and a test attempt."""
    api = stack.api
    first = await api.create(
        account.admin,
        name=f"{account.name}-webhook-one",
        url=f"http://{host}/one",
        secret=f"{account.name}-secret-one",
    )
    second = await api.create(
        account.admin,
        name=f"{account.name}-webhook-two",
        url=f"http://{host}/two",
        secret=f"{account.name}-secret-two",
        enabled=False,
    )
    response = await stack.client.post(
        EVENTS, headers={**account.publisher, "Idempotency-Key": key}, json=EVENT
    )
    assert response.status_code == 202, response.text
    event = response.json()["id"]
    response = await stack.client.post(
        EVENTS + "/batch",
        headers={**account.publisher, "Idempotency-Key": key + "-batch"},
        json={"events": [EVENT]},
    )
    assert response.status_code == 202, response.text
    batch_event = response.json()["data"][0]["id"]

    async def delivered() -> list[Any] | None:
        found = await collect(stack.client, DELIVERIES, account.admin)
        done = [d for d in found if d["status"] == "succeeded"]
        return done if len(done) == 2 else None

    deliveries = await eventually(delivered)
    (delivery,) = [d for d in deliveries if d["eventId"] == event]
    response = await stack.client.post(TEST, headers=account.admin, json={"webhookId": first["id"]})
    assert response.status_code == 200, response.text
    logs = await collect(stack.client, LOGS, account.admin)
    attempt_log = next(log for log in logs if log["deliveryId"] == delivery["id"])
    page = await stack.client.get(WEBHOOKS, headers=account.admin, params={"limit": 1})
    cursor = page.json()["nextCursor"]
    assert cursor is not None
    ids = Ids(first["id"], delivery["id"], event, attempt_log["id"], cursor, key)
    markers = {
        first["id"],
        second["id"],
        event,
        batch_event,
        *(d["id"] for d in deliveries),
        *(log["id"] for log in logs),
        *(log["eventId"] for log in logs),
        first["name"],
        second["name"],
        f"{account.name}-secret-one",
        f"{account.name}-secret-two",
        host,
    }
    return ids, markers


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(module_database: str) -> AsyncIterator[World]:
    receivers = Receivers()
    acme_receiver = await receivers.start()
    other_receiver = await receivers.start()
    dns = {"acme-hooks.test": ["127.0.0.1"], "other-hooks.test": ["127.0.0.1"]}
    stack = await open_stack(module_database, dns=dns, allowed=ONLY_127_0_0_1, engine=True)
    try:
        # Each tenant's host name resolves to its own receiver's port via the URL.
        acme = await make_account(stack.services, "acme")
        other = await make_account(stack.services, "other")
        own, _ = await populate(stack, acme, f"acme-hooks.test:{acme_receiver.port}", "acme-key")
        theirs, markers = await populate(
            stack, other, f"other-hooks.test:{other_receiver.port}", "other-only-key"
        )
        await stack.stop_engine()  # from here on, nothing moves unless a request moves it
        missing = Ids(
            webhook=new_id(IdPrefix.WEBHOOK),
            delivery=new_id(IdPrefix.DELIVERY),
            event=new_id(IdPrefix.EVENT),
            log=new_id(IdPrefix.LOG),
            cursor=encode_cursor(new_id(IdPrefix.WEBHOOK)),
            idempotency_key="never-used-key",
        )
        yield World(
            stack,
            acme,
            other,
            own,
            theirs,
            missing,
            acme_receiver,
            other_receiver,
            markers,
            await snapshot(stack.client, other),
        )
    finally:
        await stack.close()
        for receiver in receivers.started:
            await receiver.stop()


async def send(world: World, request: Request, headers: dict[str, str]) -> httpx.Response:
    return await world.client.request(
        request.method,
        request.path,
        params=request.params,
        json=request.json,
        headers={**headers, **request.headers},
    )


def body_of(response: httpx.Response) -> Any:
    return response.json() if response.content else None


ON_BOTH = pytest.mark.parametrize(
    "module_database",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


@ON_BOTH
@pytest.mark.parametrize(("method", "path", "role", "variant"), CELLS)
async def test_cell(world, method, path, role, variant):
    operation = MATRIX.get((method, path))
    assert operation is not None, f"{method} {path} is not in the isolation MATRIX: add it"
    granted = role in GRANTS[operation.permission]
    headers = world.acme.role(role)
    received_before = len(world.other_receiver.requests)

    if variant == "own":
        ids = world.own
        if operation.fresh:
            ids = replace(ids, webhook=await world.fresh_own_webhook())
        request = operation.build(ids)
        response = await send(world, request, headers)
        expected = operation.success if granted else 403
        assert response.status_code == expected, response.text
    else:
        request = operation.build(world.theirs)
        response = await send(world, request, headers)
        expected = operation.other if granted else 403
        assert response.status_code == expected, response.text
        if operation.like_missing or not granted:
            missing = await send(world, operation.build(world.missing), headers)
            assert (missing.status_code, body_of(missing)) == (
                response.status_code,
                body_of(response),
            )
    if expected == 403:
        world.stack.api.error(response, 403, "forbidden")
    elif expected == 404:
        world.stack.api.error(response, 404, "not_found")

    # Nothing of the other tenant in the answer (beyond what the request itself named) ...
    named = " ".join([request.path, str(request.params), str(request.json), str(request.headers)])
    leaked = {m for m in world.other_markers if m in response.text and m not in named}
    assert not leaked, (leaked, response.text)
    # ... and nothing of it changed, or called.
    assert await snapshot(world.client, world.other) == world.other_snapshot
    assert len(world.other_receiver.requests) == received_before


@ON_BOTH
async def test_own_reads_do_see_own_data(world):
    """The matrix could pass on empty answers; the caller's own data is really there."""
    own, headers = world.own, world.acme.viewer
    for path, params in [
        (DELIVERIES, {"webhookId": own.webhook, "eventId": own.event}),
        (LOGS, {"webhookId": own.webhook, "eventId": own.event}),
        (f"{WEBHOOKS}/{own.webhook}/logs", {"eventId": own.event}),
    ]:
        response = await world.client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        assert response.json()["data"], (path, response.text)
    response = await world.client.get(WEBHOOKS, headers=headers, params={"cursor": own.cursor})
    assert response.json()["data"], response.text


@ON_BOTH
async def test_every_api_route_is_in_the_matrix(world):
    app = create_app(world.stack.services)
    served = api_operations(app.routes)
    documented = documented_operations(app.openapi())
    assert served == documented
    assert served == set(MATRIX), {
        "not in MATRIX": sorted(served - set(MATRIX)),
        "no such route": sorted(set(MATRIX) - served),
    }
    assert {(c.values[0], c.values[1]) for c in CELLS} == served
    assert len(CELLS) == len(served) * len(ROLES) * len(VARIANTS)


@ON_BOTH
async def test_a_new_route_would_not_be_covered(world):
    """The coverage check above can fail: a route added to the app shows up uncovered."""
    app = create_app(world.stack.services)
    app.add_api_route("/api/internal/export", lambda: None, methods=["GET"])
    app.openapi_schema = None
    new = ("GET", "/api/internal/export")
    assert api_operations(app.routes) - set(MATRIX) == {new}
    assert documented_operations(app.openapi()) - set(MATRIX) == {new}
