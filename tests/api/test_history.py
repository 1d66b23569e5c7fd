"""Reading history (contract 3 and 4): attempt logs, deliveries, resending.

The engine does not run in API tests, so the ``history`` fixture plays it: it publishes real
events through the API, then claims and completes their deliveries through the store exactly
as the engine would, with attempt times of its choosing (``T(minute)``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from hookline.delivery.outcome import attempt_log
from hookline.delivery.sender import AttemptResult
from hookline.domain.deliveries import ClaimedDelivery, Completion, DeliveryStatus
from hookline.domain.times import iso_ms, to_epoch_ms
from hookline.ids import IdPrefix, new_id

LOGS = "/api/internal/webhooks/logs"
DELIVERIES = "/api/internal/deliveries"
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
BASE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LOG_FIELDS = {
    "id",
    "deliveryId",
    "webhookId",
    "eventId",
    "event",
    "clientCuid",
    "attempt",
    "trigger",
    "url",
    "requestHeaders",
    "requestBody",
    "statusCode",
    "responseHeaders",
    "responseBody",
    "durationMs",
    "success",
    "error",
    "createdAt",
}
DELIVERY_FIELDS = {
    "id",
    "webhookId",
    "eventId",
    "event",
    "trigger",
    "status",
    "attempts",
    "nextAttemptAt",
    "lastStatusCode",
    "lastError",
    "createdAt",
    "updatedAt",
}


def T(minute: int) -> datetime:
    """The scenario's clock: attempt ``minute`` minutes after BASE."""
    return BASE + timedelta(minutes=minute)


@dataclass
class History:
    """Ids of the scenario, by name: webhooks w1, w2; events e1, e2; deliveries and logs."""

    webhooks: dict[str, str] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    deliveries: dict[str, str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)  # L1..L5, oldest first
    bodies: dict[str, str] = field(default_factory=dict)  # event id -> request body sent
    other_webhook: str = ""
    other_delivery: str = ""
    other_log: str = ""


async def claim(services) -> dict[tuple[str, str], ClaimedDelivery]:
    """Every due delivery (all tenants), by (event id, webhook id)."""
    now = datetime.now(UTC) + timedelta(seconds=1)
    token = secrets.token_hex(8)
    claimed = await services.store.claim_due(now, 100, now + timedelta(minutes=1), token)
    return {(c.event_id, c.webhook_id): c for c in claimed}


async def attempt(
    services,
    claimed: ClaimedDelivery,
    at: datetime,
    *,
    status_code: int | None,
    error: str | None = None,
    then: DeliveryStatus,
) -> str:
    """Complete one claimed delivery as the engine would; the new log's id."""
    success = status_code is not None and 200 <= status_code < 300
    result = AttemptResult(
        success=success,
        status_code=status_code,
        response_headers={"X-Receiver": "yes"} if status_code else {},
        response_body="thanks" if success else ("boom" if status_code else ""),
        duration_ms=12,
        error=None if success else f"Failed to call webhook: {error}",
    )
    log = attempt_log(
        tenant_id=claimed.tenant_id,
        delivery_id=claimed.id,
        webhook_id=claimed.webhook_id,
        event_id=claimed.event_id,
        event=claimed.event,
        client_cuid=claimed.client_cuid,
        attempt=claimed.attempts + 1,
        trigger=claimed.trigger,
        url=claimed.url,
        request_headers={"X-Hookline-Attempt": str(claimed.attempts + 1)},
        body=claimed.body,
        result=result,
        now=at,
    )
    # Ids sort by creation time; give the log one of its scenario time, so that "newest
    # first" is the scenario's order even when two logs are written in the same millisecond.
    log = replace(log, id=new_id(IdPrefix.LOG, now_ms=to_epoch_ms(at)))
    completion = Completion(
        delivery_id=claimed.id,
        lease_token=claimed.lease_token,
        status=then,
        attempts=claimed.attempts + 1,
        next_attempt_at=at if then is DeliveryStatus.PENDING else None,
        last_status_code=status_code,
        last_error=result.error,
        log=log,
    )
    assert await services.store.complete([completion], at) == 1
    return log.id


async def publish(api, headers, event, client_cuid=None) -> str:
    body = {"event": event, "clientCuid": client_cuid, "data": {"n": 1}}
    response = await api.client.post("/api/internal/events", headers=headers, json=body)
    assert response.status_code == 202, response.text
    return response.json()["id"]


@pytest.fixture
async def history(api, acme, other, services) -> History:
    """Five attempt logs of acme, oldest first (L1..L5), and one of the other tenant:

    L1 e1->w1 attempt 1, 200 (event)         L4 e1->w2 attempt 2, 200 (event)
    L2 e1->w2 attempt 1, HTTP 500 (event)    L5 e2->w1 attempt 1, 200 (resend of the failed one)
    L3 e2->w1 attempt 1, refused -> failed
    """
    h = History()
    w1 = await api.create(acme.admin, name="W1", events=["ReportPublished", "AssessmentSubmitted"])
    w2 = await api.create(acme.admin, name="W2", url="https://other.example.com/2")
    theirs = await api.create(other.admin, name="Theirs")
    h.webhooks = {"w1": w1["id"], "w2": w2["id"]}
    h.other_webhook = theirs["id"]
    e1 = await publish(api, acme.publisher, "ReportPublished", "c1")
    e2 = await publish(api, acme.publisher, "AssessmentSubmitted")
    e3 = await publish(api, other.publisher, "ReportPublished")
    h.events = {"e1": e1, "e2": e2}

    due = await claim(services)
    assert set(due) == {(e1, w1["id"]), (e1, w2["id"]), (e2, w1["id"]), (e3, theirs["id"])}
    for name, event_id, webhook in [("e1w1", e1, w1), ("e1w2", e1, w2), ("e2w1", e2, w1)]:
        h.deliveries[name] = due[(event_id, webhook["id"])].id
        h.bodies[event_id] = due[(event_id, webhook["id"])].body.decode()
    h.other_delivery = due[(e3, theirs["id"])].id
    ok = DeliveryStatus.SUCCEEDED
    h.logs["L1"] = await attempt(services, due[(e1, w1["id"])], T(1), status_code=200, then=ok)
    h.logs["L2"] = await attempt(
        services,
        due[(e1, w2["id"])],
        T(2),
        status_code=500,
        error="HTTP 500",
        then=DeliveryStatus.PENDING,
    )
    h.logs["L3"] = await attempt(
        services,
        due[(e2, w1["id"])],
        T(3),
        status_code=None,
        error="connection refused",
        then=DeliveryStatus.FAILED,
    )
    h.other_log = await attempt(services, due[(e3, theirs["id"])], T(3), status_code=200, then=ok)

    retry = await claim(services)
    assert set(retry) == {(e1, w2["id"])}
    h.logs["L4"] = await attempt(services, retry[(e1, w2["id"])], T(4), status_code=200, then=ok)

    path = f"{DELIVERIES}/{h.deliveries['e2w1']}/resend"
    response = await api.client.post(path, headers=acme.admin)
    assert response.status_code == 202, response.text
    h.deliveries["resend"] = response.json()["id"]
    resent = await claim(services)
    assert set(resent) == {(e2, w1["id"])}
    h.logs["L5"] = await attempt(services, resent[(e2, w1["id"])], T(5), status_code=200, then=ok)
    return h


async def log_ids(api, headers, path=LOGS, **params) -> list[str]:
    response = await api.client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"data", "nextCursor"}
    return [log["id"] for log in page["data"]]


# -- logs --------------------------------------------------------------------------------------
async def test_logs_are_newest_first_with_every_field(api, acme, other, history):
    response = await api.client.get(LOGS, headers=acme.viewer)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["nextCursor"] is None
    assert [log["id"] for log in page["data"]] == [history.logs[f"L{i}"] for i in (5, 4, 3, 2, 1)]
    for log in page["data"]:
        assert set(log) == LOG_FIELDS
    l2 = page["data"][3]
    assert l2 == {
        "id": history.logs["L2"],
        "deliveryId": history.deliveries["e1w2"],
        "webhookId": history.webhooks["w2"],
        "eventId": history.events["e1"],
        "event": "ReportPublished",
        "clientCuid": "c1",
        "attempt": 1,
        "trigger": "event",
        "url": "https://other.example.com/2",
        "requestHeaders": {"X-Hookline-Attempt": "1"},
        "requestBody": history.bodies[history.events["e1"]],
        "statusCode": 500,
        "responseHeaders": {"X-Receiver": "yes"},
        "responseBody": "boom",
        "durationMs": 12,
        "success": False,
        "error": "Failed to call webhook: HTTP 500",
        "createdAt": "2026-03-01T09:02:00.000Z",
    }
    assert '"n":1' in l2["requestBody"]
    refused = page["data"][2]
    assert (refused["statusCode"], refused["responseBody"]) == (None, "")
    assert refused["error"] == "Failed to call webhook: connection refused"
    assert page["data"][0]["trigger"] == "resend"
    # The other tenant sees only its own log, and never acme's.
    assert await log_ids(api, other.viewer) == [history.other_log]
    assert await log_ids(api, acme.admin, webhookId=history.other_webhook) == []


async def test_every_log_filter_and_their_combinations(api, acme, history):
    L = history.logs
    w1, w2 = history.webhooks["w1"], history.webhooks["w2"]
    e1, e2 = history.events["e1"], history.events["e2"]
    cases = [
        ({"webhookId": w1}, ["L5", "L3", "L1"]),
        ({"webhookId": w2}, ["L4", "L2"]),
        ({"event": "AssessmentSubmitted"}, ["L5", "L3"]),
        ({"event": "EngagementRequested"}, []),
        ({"eventId": e1}, ["L4", "L2", "L1"]),
        ({"eventId": e2}, ["L5", "L3"]),
        ({"success": "true"}, ["L5", "L4", "L1"]),
        ({"success": "false"}, ["L3", "L2"]),
        ({"trigger": "resend"}, ["L5"]),
        ({"trigger": "event"}, ["L4", "L3", "L2", "L1"]),
        ({"trigger": "test"}, []),
        ({"since": "2026-03-01T09:02:00Z"}, ["L5", "L4", "L3", "L2"]),
        ({"since": "2026-03-01T09:02:00.001Z"}, ["L5", "L4", "L3"]),
        ({"until": "2026-03-01T09:03:00.000Z"}, ["L3", "L2", "L1"]),
        ({"since": "2026-03-01T11:02:00+02:00", "until": "2026-03-01T09:03:00"}, ["L3", "L2"]),
        ({"webhookId": w1, "success": "false"}, ["L3"]),
        ({"eventId": e1, "webhookId": w2, "trigger": "event", "since": iso_ms(T(3))}, ["L4"]),
    ]
    for params, expected in cases:
        assert await log_ids(api, acme.viewer, **params) == [L[n] for n in expected], params
    path = f"/api/internal/webhooks/{w1}/logs"
    assert await log_ids(api, acme.viewer, path) == [L["L5"], L["L3"], L["L1"]]
    assert await log_ids(api, acme.admin, path, success="true") == [L["L5"], L["L1"]]
    assert await log_ids(api, acme.admin, path, webhookId=w1, trigger="event") == [L["L3"], L["L1"]]
    response = await api.client.get(path, headers=acme.admin, params={"webhookId": w2})
    api.error(response, 400, "validation_error", "webhookId")


async def test_log_pages_do_not_overlap(api, acme, history):
    pages, params = [], {"limit": 2}
    while True:
        response = await api.client.get(LOGS, headers=acme.viewer, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([log["id"] for log in page["data"]])
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]
        assert len(pages) < 5, "paging does not end"
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == [history.logs[f"L{i}"] for i in (5, 4, 3, 2, 1)]
    # Filters and paging together, on the per-webhook route.
    path = f"/api/internal/webhooks/{history.webhooks['w1']}/logs"
    first = (await api.client.get(path, headers=acme.viewer, params={"limit": 2})).json()
    assert [log["id"] for log in first["data"]] == [history.logs["L5"], history.logs["L3"]]
    rest = await log_ids(api, acme.viewer, path, limit=2, cursor=first["nextCursor"])
    assert rest == [history.logs["L1"]]


BAD_LOG_PARAMS = [
    pytest.param({"since": "yesterday"}, "since", id="since not a time"),
    pytest.param({"until": "2026-13-01T00:00:00Z"}, "until", id="until month 13"),
    pytest.param({"since": "0001-01-01T00:00:00+01:00"}, "since", id="since before year 1"),
    pytest.param(
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        "until",
        id="until before since",
    ),
    pytest.param({"trigger": "retry"}, "trigger", id="unknown trigger"),
    pytest.param({"success": "maybe"}, "success", id="success not a boolean"),
    pytest.param({"limit": "0"}, "limit", id="limit 0"),
    pytest.param({"limit": "201"}, "limit", id="limit 201"),
    pytest.param({"limit": "two"}, "limit", id="limit not a number"),
    pytest.param({"cursor": "not a cursor!"}, "cursor", id="bad cursor"),
    pytest.param({"event": "Report\x00Published"}, "event", id="event NUL"),
    pytest.param({"webhookId": "w" * 201}, "webhookId", id="webhookId too long"),
]


@SQLITE_ONLY
@pytest.mark.parametrize(("params", "field"), BAD_LOG_PARAMS)
async def test_bad_log_parameters_are_400_naming_them(api, acme, params, field):
    webhook = await api.create(acme.admin)
    for path in [LOGS, f"/api/internal/webhooks/{webhook['id']}/logs"]:
        response = await api.client.get(path, headers=acme.viewer, params=params)
        api.error(response, 400, "validation_error", field)


@SQLITE_ONLY
async def test_logs_of_a_webhook_that_is_not_yours_are_404(api, acme, other, history):
    paths = [
        f"/api/internal/webhooks/{history.other_webhook}/logs",
        "/api/internal/webhooks/wh_01JD3Z6W9R5M1F4T8KQX2B7C0N/logs",
        "/api/internal/webhooks/nope/logs",
    ]
    for path in paths:
        api.error(await api.client.get(path, headers=acme.admin), 404, "not_found")
    # A deleted webhook: gone from /webhooks/{id}/logs, its logs still readable by filter.
    w2 = history.webhooks["w2"]
    assert (await api.client.delete(f"/api/internal/webhooks/{w2}", headers=acme.admin)).is_success
    path = f"/api/internal/webhooks/{w2}/logs"
    api.error(await api.client.get(path, headers=acme.admin), 404, "not_found")
    expected = [history.logs["L4"], history.logs["L2"]]
    assert await log_ids(api, acme.viewer, webhookId=w2) == expected


@SQLITE_ONLY
async def test_publishers_may_not_read_history(api, acme, history):
    paths = [
        LOGS,
        f"/api/internal/webhooks/{history.webhooks['w1']}/logs",
        DELIVERIES,
        f"{DELIVERIES}/{history.deliveries['e1w1']}",
    ]
    for path in paths:
        api.error(await api.client.get(path, headers=acme.publisher), 403, "forbidden")
        api.error(await api.client.get(path, headers={}), 401, "unauthorized")


@SQLITE_ONLY
async def test_a_disabled_account_reads_no_history(api, acme, services, history):
    paths = [
        ("GET", LOGS),
        ("GET", f"/api/internal/webhooks/{history.webhooks['w1']}/logs"),
        ("GET", DELIVERIES),
        ("GET", f"{DELIVERIES}/{history.deliveries['e1w1']}"),
        ("POST", f"{DELIVERIES}/{history.deliveries['e1w1']}/resend"),
    ]
    await services.accounts.set_tenant_enabled("acme", False)
    for method, path in paths:
        for headers in [acme.admin, acme.viewer]:
            response = await api.client.request(method, path, headers=headers)
            api.error(response, 403, "webhooks_disabled")
    await services.accounts.set_tenant_enabled("acme", True)
    assert len(await delivery_ids(api, acme.viewer)) == 4


# -- deliveries ------------------------------------------------------------------------------
async def delivery_ids(api, headers, **params) -> list[str]:
    response = await api.client.get(DELIVERIES, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [d["id"] for d in response.json()["data"]]


async def test_deliveries_list_their_state_newest_first(api, acme, other, history):
    d = history.deliveries
    response = await api.client.get(DELIVERIES, headers=acme.viewer)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["nextCursor"] is None
    listed = {item["id"]: item for item in page["data"]}
    assert list(listed) == sorted([d["e1w1"], d["e1w2"], d["e2w1"], d["resend"]], reverse=True)
    assert next(iter(listed)) == d["resend"]
    for item in page["data"]:
        assert set(item) == DELIVERY_FIELDS
    retried = listed[d["e1w2"]]
    assert retried["webhookId"] == history.webhooks["w2"]
    assert retried["eventId"] == history.events["e1"]
    assert retried["event"] == "ReportPublished"
    assert (retried["trigger"], retried["status"], retried["attempts"]) == ("event", "succeeded", 2)
    assert (retried["lastStatusCode"], retried["lastError"]) == (200, None)
    assert retried["nextAttemptAt"] is None
    failed = listed[d["e2w1"]]
    assert (failed["status"], failed["attempts"], failed["lastStatusCode"]) == ("failed", 1, None)
    assert failed["lastError"] == "Failed to call webhook: connection refused"
    resent = listed[d["resend"]]
    assert (resent["trigger"], resent["status"], resent["attempts"]) == ("resend", "succeeded", 1)
    assert resent["eventId"] == history.events["e2"]
    assert await delivery_ids(api, other.viewer) == [history.other_delivery]

    w1 = history.webhooks["w1"]
    assert await delivery_ids(api, acme.viewer, status="failed") == [d["e2w1"]]
    assert await delivery_ids(api, acme.viewer, status="pending") == []
    assert set(await delivery_ids(api, acme.viewer, status="succeeded")) == {
        d["e1w1"],
        d["e1w2"],
        d["resend"],
    }
    assert await delivery_ids(api, acme.viewer, eventId=history.events["e2"]) == [
        d["resend"],
        d["e2w1"],
    ]
    assert await delivery_ids(api, acme.viewer, webhookId=history.webhooks["w2"]) == [d["e1w2"]]
    assert await delivery_ids(api, acme.viewer, webhookId=w1, status="succeeded") == sorted(
        [d["resend"], d["e1w1"]], reverse=True
    )
    assert await delivery_ids(api, acme.viewer, webhookId=history.other_webhook) == []

    first = (await api.client.get(DELIVERIES, headers=acme.viewer, params={"limit": 3})).json()
    rest = await delivery_ids(api, acme.viewer, limit=3, cursor=first["nextCursor"])
    assert [item["id"] for item in first["data"]] + rest == list(listed)
    assert len(rest) == 1


async def test_a_delivery_with_its_attempts_in_order(api, acme, other, history):
    path = f"{DELIVERIES}/{history.deliveries['e1w2']}"
    response = await api.client.get(path, headers=acme.viewer)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert set(detail) == DELIVERY_FIELDS | {"logs"}
    assert (detail["id"], detail["status"], detail["attempts"]) == (
        history.deliveries["e1w2"],
        "succeeded",
        2,
    )
    assert [log["id"] for log in detail["logs"]] == [history.logs["L2"], history.logs["L4"]]
    assert [log["attempt"] for log in detail["logs"]] == [1, 2]
    assert [log["success"] for log in detail["logs"]] == [False, True]
    listed = (await api.client.get(LOGS, headers=acme.viewer)).json()["data"]
    assert detail["logs"][0] == next(log for log in listed if log["id"] == history.logs["L2"])
    # Not yours, or no such delivery: 404.
    for delivery_id in [history.other_delivery, "dlv_nope", "nope", "dlv_" + "0" * 52]:
        response = await api.client.get(f"{DELIVERIES}/{delivery_id}", headers=acme.admin)
        api.error(response, 404, "not_found")
    path = f"{DELIVERIES}/{history.deliveries['e1w1']}"
    api.error(await api.client.get(path, headers=other.admin), 404, "not_found")


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"eventId": "evt\x00"}, "eventId"),
    ],
)
async def test_bad_delivery_parameters_are_400_naming_them(api, acme, params, field):
    response = await api.client.get(DELIVERIES, headers=acme.viewer, params=params)
    api.error(response, 400, "validation_error", field)


# -- resend ----------------------------------------------------------------------------------
async def test_resend_queues_a_new_pending_delivery(api, acme, other, history):
    source = history.deliveries["e1w1"]
    response = await api.client.post(f"{DELIVERIES}/{source}/resend", headers=acme.admin)
    assert response.status_code == 202, response.text
    new = response.json()
    assert set(new) == DELIVERY_FIELDS
    assert new["id"].startswith("dlv_")
    assert new["id"] not in history.deliveries.values()
    assert response.headers["location"] == f"{DELIVERIES}/{new['id']}"
    assert new["webhookId"] == history.webhooks["w1"]
    assert new["eventId"] == history.events["e1"]
    assert new["event"] == "ReportPublished"
    assert (new["trigger"], new["status"], new["attempts"]) == ("resend", "pending", 0)
    assert (new["lastStatusCode"], new["lastError"]) == (None, None)
    assert new["nextAttemptAt"] is not None
    detail = (await api.client.get(f"{DELIVERIES}/{new['id']}", headers=acme.viewer)).json()
    assert detail == {**new, "logs": []}
    assert await delivery_ids(api, acme.viewer, status="pending") == [new["id"]]
    # The queue has it: a worker would send the same event's exact bytes again.
    [(key, claimed)] = (await claim(api.services)).items()
    assert key == (history.events["e1"], history.webhooks["w1"])
    assert claimed.body.decode() == history.bodies[history.events["e1"]]

    for headers, status, code in [
        (acme.viewer, 403, "forbidden"),
        (acme.publisher, 403, "forbidden"),
        (other.admin, 404, "not_found"),
    ]:
        response = await api.client.post(f"{DELIVERIES}/{source}/resend", headers=headers)
        api.error(response, status, code)
    response = await api.client.post(f"{DELIVERIES}/dlv_nope/resend", headers=acme.admin)
    api.error(response, 404, "not_found")
    assert len(await delivery_ids(api, acme.viewer)) == 5


async def test_resend_to_a_deleted_or_disabled_webhook_is_409(api, acme, history):
    w1, w2 = history.webhooks["w1"], history.webhooks["w2"]
    before = await delivery_ids(api, acme.viewer)
    await api.client.delete(f"/api/internal/webhooks/{w2}", headers=acme.admin)
    path = f"{DELIVERIES}/{history.deliveries['e1w2']}/resend"
    api.error(await api.client.post(path, headers=acme.admin), 409, "conflict")
    response = await api.client.patch(
        f"/api/internal/webhooks/{w1}", headers=acme.admin, json={"enabled": False}
    )
    assert response.status_code == 200, response.text
    path = f"{DELIVERIES}/{history.deliveries['e1w1']}/resend"
    api.error(await api.client.post(path, headers=acme.admin), 409, "conflict")
    assert await delivery_ids(api, acme.viewer) == before
