"""Publishing events (contract 3 and 4): fan-out, validation, idempotency, batches."""

from __future__ import annotations

import json
import secrets
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

EVENTS = "/api/internal/events"
BATCH = EVENTS + "/batch"
DELIVERIES = "/api/internal/deliveries"
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def count_rows(services, table: str) -> int:
    """Rows of one table, counted around the store (all tenants)."""
    url = services.settings.database_url
    query = f"SELECT count(*) FROM {table}"  # table names are the tests' own
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            count: int = conn.execute(query).fetchone()[0]
        return count
    conn = await asyncpg.connect(url)
    try:
        counted: int = await conn.fetchval(query)
    finally:
        await conn.close()
    return counted


async def stored(services) -> tuple[int, int]:
    """How many events and deliveries exist."""
    return await count_rows(services, "events"), await count_rows(services, "deliveries")


async def deliveries_of(api, headers, event_id: str) -> list[dict]:
    response = await api.client.get(DELIVERIES, headers=headers, params={"eventId": event_id})
    assert response.status_code == 200, response.text
    assert response.json()["nextCursor"] is None
    found: list[dict] = response.json()["data"]
    return found


async def publish(api, headers, body, **extra) -> dict:
    response = await api.client.post(EVENTS, headers=headers, json=body, **extra)
    assert response.status_code == 202, response.text
    answer: dict = response.json()
    return answer


async def claim_bodies(services) -> dict[str, bytes]:
    """The exact bytes the queue would send, by event id (claims every due delivery)."""
    now = datetime.now(UTC) + timedelta(seconds=1)
    claimed = await services.store.claim_due(
        now, 100, now + timedelta(minutes=1), secrets.token_hex(8)
    )
    return {c.event_id: c.body for c in claimed}


async def test_publish_fans_out_to_every_matching_webhook(api, acme, other):
    everyone = await api.create(acme.admin, name="All clients")
    client1 = await api.create(acme.admin, name="c1 only", clientCuids=["c1"])
    await api.create(acme.admin, name="c2 only", clientCuids=["c2"])
    await api.create(acme.admin, name="Disabled", enabled=False)
    assessments = await api.create(acme.admin, name="Other event", events=["AssessmentSubmitted"])
    await api.create(other.admin, name="Other tenant")

    response = await api.client.post(
        EVENTS,
        headers=acme.publisher,
        json={"event": "ReportPublished", "clientCuid": "c1", "data": {"reportId": 7}},
    )
    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"id", "deliveries"}
    assert answer["id"].startswith("evt_")
    assert answer["deliveries"] == 2
    assert response.content == json.dumps(answer, separators=(",", ":")).encode()
    queued = await deliveries_of(api, acme.viewer, answer["id"])
    assert {d["webhookId"] for d in queued} == {everyone["id"], client1["id"]}
    for delivery in queued:
        assert delivery["eventId"] == answer["id"]
        assert delivery["event"] == "ReportPublished"
        assert (delivery["trigger"], delivery["status"], delivery["attempts"]) == (
            "event",
            "pending",
            0,
        )
        assert delivery["nextAttemptAt"] is not None
        assert (delivery["lastStatusCode"], delivery["lastError"]) == (None, None)

    no_client = await publish(api, acme.admin, {"event": "ReportPublished"})
    assert no_client["deliveries"] == 1
    assert [d["webhookId"] for d in await deliveries_of(api, acme.viewer, no_client["id"])] == [
        everyone["id"]
    ]
    client2 = await publish(api, acme.publisher, {"event": "AssessmentSubmitted", "data": None})
    assert client2["deliveries"] == 1
    assert [d["webhookId"] for d in await deliveries_of(api, acme.viewer, client2["id"])] == [
        assessments["id"]
    ]
    nobody = await publish(api, acme.publisher, {"event": "EngagementRequested"})
    assert nobody["deliveries"] == 0
    assert await deliveries_of(api, acme.viewer, nobody["id"]) == []
    assert len({answer["id"], no_client["id"], client2["id"], nobody["id"]}) == 4


async def test_event_body_is_stored_as_javascript_would_send_it(api, acme, services):
    await api.create(acme.admin)
    raw = (
        b'{"event":"ReportPublished","clientCuid":"c\xc3\xa9","data":'
        b'{"n":1.0,"f":2.50,"e":1E2,"big":1e300,"s":"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00",'
        b'"list":[1.0,-0.0,0.5],"nested":{"t":true,"z":null}}}'
    )
    headers = {**acme.publisher, "Content-Type": "application/json"}
    response = await api.client.post(EVENTS, headers=headers, content=raw)
    assert response.status_code == 202, response.text
    event_id = response.json()["id"]
    body = (await claim_bodies(services))[event_id]
    sent = json.loads(body)
    assert set(sent) == {"id", "event", "createdAt", "clientCuid", "data"}
    assert (sent["id"], sent["event"], sent["clientCuid"]) == (event_id, "ReportPublished", "cé")
    expected_data = (
        '{"n":1,"f":2.5,"e":100,"big":1e+300,"s":"café é 😀",'
        '"list":[1,0,0.5],"nested":{"t":true,"z":null}}'
    )
    assert body.endswith(b',"data":' + expected_data.encode() + b"}")
    assert body == json.dumps(sent, separators=(",", ":"), ensure_ascii=False).encode()


INVALID_EVENTS = [
    pytest.param({"event": "NoSuchEvent"}, "event", id="unknown event"),
    pytest.param({"clientCuid": "c1"}, "event", id="missing event"),
    pytest.param({"event": None}, "event", id="null event"),
    pytest.param({"event": ""}, "event", id="empty event"),
    pytest.param({"event": 42}, "event", id="event not a string"),
    pytest.param({"event": "Report\x00Published"}, "event", id="event NUL"),
    pytest.param({"event": "ReportPublished", "clientCuid": "c\x001"}, "clientCuid", id="cuid NUL"),
    pytest.param({"event": "ReportPublished", "clientCuid": "c\n1"}, "clientCuid", id="cuid LF"),
    pytest.param({"event": "ReportPublished", "clientCuid": ""}, "clientCuid", id="cuid empty"),
    pytest.param({"event": "ReportPublished", "clientCuid": 7}, "clientCuid", id="cuid number"),
    pytest.param(
        {"event": "ReportPublished", "clientCuid": "c" * 201}, "clientCuid", id="cuid too long"
    ),
    pytest.param({"event": "ReportPublished", "data": [1, 2]}, "data", id="data array"),
    pytest.param({"event": "ReportPublished", "data": "text"}, "data", id="data string"),
    pytest.param({"event": "ReportPublished", "data": 3}, "data", id="data number"),
    pytest.param({"event": "ReportPublished", "foo": 1}, "foo", id="unknown field"),
    pytest.param({"event": "ReportPublished", "client_cuid": "c1"}, "client_cuid", id="snake"),
]


@SQLITE_ONLY
@pytest.mark.parametrize(("body", "field"), INVALID_EVENTS)
async def test_invalid_event_is_400_naming_the_field_and_stores_nothing(
    api, acme, services, body, field
):
    await api.create(acme.admin)  # a wrongly accepted event would queue a delivery to it
    for path, sent, named in [(EVENTS, body, field), (BATCH, {"events": [body]}, "")]:
        response = await api.client.post(path, headers=acme.publisher, json=sent)
        api.error(response, 400, "validation_error", named or f"events[0].{field}")
    assert await stored(services) == (0, 0)


NOT_JSON_OBJECTS = [
    pytest.param(b'{"event": "ReportPublished",', "application/json", id="truncated"),
    pytest.param(b'["ReportPublished"]', "application/json", id="array"),
    pytest.param(b"", "application/json", id="empty"),
    pytest.param(b'{"event": "ReportPublished", "data": {"x": NaN}}', None, id="NaN"),
    pytest.param(b'{"event": "ReportPublished", "data": {"x": 1e999}}', None, id="1e999"),
    pytest.param(b'{"event": "ReportPublished", "data": {"x": "\\ud800"}}', None, id="surrogate"),
    pytest.param(b'{"event": "Report\xffPublished"}', None, id="not UTF-8"),
    pytest.param(b'{"event": "ReportPublished"}', "text/plain", id="text/plain"),
]


@SQLITE_ONLY
@pytest.mark.parametrize(("content", "content_type"), NOT_JSON_OBJECTS)
async def test_body_that_is_not_a_json_object_is_invalid_json(
    api, acme, services, content, content_type
):
    await api.create(acme.admin)
    headers = dict(acme.publisher)
    if content_type is not None:
        headers["Content-Type"] = content_type
    for path in [EVENTS, BATCH]:
        response = await api.client.post(path, headers=headers, content=content)
        api.error(response, 400, "invalid_json")
    assert await stored(services) == (0, 0)


@SQLITE_ONLY
async def test_who_may_publish(api, acme, services):
    await api.create(acme.admin)
    body = {"event": "ReportPublished"}
    api.error(await api.client.post(EVENTS, headers=acme.viewer, json=body), 403, "forbidden")
    response = await api.client.post(BATCH, headers=acme.viewer, json={"events": [body]})
    api.error(response, 403, "forbidden")
    for headers in [{}, acme.revoked, {"Authorization": "Bearer nope"}]:
        api.error(await api.client.post(EVENTS, headers=headers, json=body), 401, "unauthorized")
    # 401 comes before anything is said about the body.
    response = await api.client.post(EVENTS, headers={}, content=b"{not json")
    api.error(response, 401, "unauthorized")
    assert await stored(services) == (0, 0)
    await services.accounts.set_tenant_enabled("acme", False)
    for headers in [acme.publisher, acme.admin]:
        response = await api.client.post(EVENTS, headers=headers, json=body)
        api.error(response, 403, "webhooks_disabled")
        response = await api.client.post(BATCH, headers=headers, json={"events": [body]})
        api.error(response, 403, "webhooks_disabled")
    assert await stored(services) == (0, 0)
    await services.accounts.set_tenant_enabled("acme", True)
    assert (await publish(api, acme.publisher, body))["deliveries"] == 1
    assert (await publish(api, acme.admin, body))["deliveries"] == 1
    assert await stored(services) == (2, 2)


async def test_idempotency_key_answers_the_first_answer_and_queues_nothing(
    api, acme, other, services
):
    await api.create(acme.admin)
    await api.create(acme.admin, name="Second")
    await api.create(other.admin)
    body = {"event": "ReportPublished", "data": {"n": 1}}
    key = {"Idempotency-Key": "order-42"}
    first = await api.client.post(EVENTS, headers={**acme.publisher, **key}, json=body)
    assert first.status_code == 202, first.text
    assert first.json()["deliveries"] == 2
    assert "idempotent-replayed" not in first.headers
    assert await stored(services) == (1, 2)

    # Same key, even with another body or another key of the tenant: the first answer.
    for headers, sent in [
        (acme.publisher, body),
        (acme.admin, {"event": "AssessmentSubmitted"}),
    ]:
        again = await api.client.post(EVENTS, headers={**headers, **key}, json=sent)
        assert again.status_code == 202, again.text
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
    assert await stored(services) == (1, 2)

    other_key = await api.client.post(
        EVENTS, headers={**acme.publisher, "Idempotency-Key": "order-43"}, json=body
    )
    assert other_key.status_code == 202
    assert other_key.json()["id"] != first.json()["id"]
    no_key = await publish(api, acme.publisher, body)
    assert no_key["id"] not in {first.json()["id"], other_key.json()["id"]}
    # Keys are per tenant.
    theirs = await api.client.post(EVENTS, headers={**other.publisher, **key}, json=body)
    assert theirs.status_code == 202
    assert theirs.json()["id"] != first.json()["id"]
    assert theirs.json()["deliveries"] == 1
    assert await stored(services) == (4, 7)

    batch_key = {**acme.publisher, "Idempotency-Key": "batch-1"}
    batch = {"events": [body, body]}
    first_batch = await api.client.post(BATCH, headers=batch_key, json=batch)
    assert first_batch.status_code == 202, first_batch.text
    again = await api.client.post(BATCH, headers=batch_key, json=batch)
    assert again.content == first_batch.content
    assert await stored(services) == (6, 11)

    for bad in ["", "k" * 256, "caf\u00e9"]:
        headers = {**acme.publisher, "Idempotency-Key": bad.encode()}
        response = await api.client.post(EVENTS, headers=headers, json=body)
        api.error(response, 400, "validation_error", "Idempotency-Key")
    assert await stored(services) == (6, 11)


async def test_batch_publishes_every_event_in_order(api, acme, services):
    reports = await api.create(acme.admin)
    assessments = await api.create(acme.admin, events=["AssessmentSubmitted"], clientCuids=["c9"])
    events = [
        {"event": "ReportPublished", "data": {"i": 0}},
        {"event": "AssessmentSubmitted", "clientCuid": "c9"},
        {"event": "AssessmentSubmitted", "clientCuid": "c1"},
    ]
    response = await api.client.post(BATCH, headers=acme.publisher, json={"events": events})
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert list(response.json()) == ["data"]
    assert [set(item) for item in data] == [{"id", "deliveries"}] * 3
    assert [item["deliveries"] for item in data] == [1, 1, 0]
    assert len({item["id"] for item in data}) == 3
    assert [d["webhookId"] for d in await deliveries_of(api, acme.viewer, data[0]["id"])] == [
        reports["id"]
    ]
    assert [d["webhookId"] for d in await deliveries_of(api, acme.viewer, data[1]["id"])] == [
        assessments["id"]
    ]
    assert await stored(services) == (3, 2)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            {"events": [{"event": "ReportPublished"}, {"event": "Nope"}, {"event": "Nope"}]},
            "events[1].event",
            id="one unknown event",
        ),
        pytest.param(
            {"events": [{"event": "ReportPublished"}, {"event": "ReportPublished", "x": 1}]},
            "events[1].x",
            id="unknown field in an event",
        ),
        pytest.param(
            {"events": [{"event": "ReportPublished", "data": [1]}]}, "events[0].data", id="data"
        ),
        pytest.param({"events": [{"event": "ReportPublished"}, 7]}, "events[1]", id="not object"),
        pytest.param({"events": []}, "events", id="empty"),
        pytest.param({"events": [{"event": "ReportPublished"}] * 1001}, "events", id="1001"),
        pytest.param({"events": {"event": "ReportPublished"}}, "events", id="not an array"),
        pytest.param({}, "events", id="missing"),
        pytest.param({"events": [{"event": "ReportPublished"}], "x": 1}, "x", id="unknown field"),
    ],
)
async def test_invalid_batch_is_refused_whole(api, acme, services, body, field):
    await api.create(acme.admin)
    response = await api.client.post(BATCH, headers=acme.publisher, json=body)
    api.error(response, 400, "validation_error", field)
    assert await stored(services) == (0, 0)


@SQLITE_ONLY
async def test_batch_names_every_bad_event_and_takes_1000(api, acme, services):
    body = {"events": [{"event": "ReportPublished"}, {"event": "Nope"}, {"clientCuid": "x"}]}
    response = await api.client.post(BATCH, headers=acme.publisher, json=body)
    error = api.error(response, 400, "validation_error")["error"]
    assert [d["field"] for d in error["details"]] == ["events[1].event", "events[2].event"]
    response = await api.client.post(
        BATCH, headers=acme.publisher, json={"events": [{"event": "ReportPublished"}] * 1000}
    )
    assert response.status_code == 202, response.text
    assert len(response.json()["data"]) == 1000
    assert await stored(services) == (1000, 0)


@SQLITE_ONLY
async def test_a_removed_event_type_cannot_be_published(api, acme, services):
    webhook = await api.create(acme.admin, events=["EngagementRequested", "ReportPublished"])
    await services.catalog.remove("EngagementRequested")
    body = {"event": "EngagementRequested"}
    response = await api.client.post(EVENTS, headers=acme.publisher, json=body)
    api.error(response, 400, "validation_error", "event")
    response = await api.client.post(BATCH, headers=acme.publisher, json={"events": [body]})
    api.error(response, 400, "validation_error", "events[0].event")
    assert await stored(services) == (0, 0)
    # The webhook keeps the name in its history, and still gets the events it may.
    assert (await api.get(acme.admin, webhook["id"]))["events"] == webhook["events"]
    assert (await publish(api, acme.publisher, {"event": "ReportPublished"}))["deliveries"] == 1


@SQLITE_ONLY
async def test_event_types_changed_here_apply_to_publishing_at_once(api, acme, services):
    """The publish path caches the catalogue for a second; changes made through this process
    clear that cache, so they apply to the very next event."""
    body = {"event": "ScanFinished"}
    await api.create(acme.admin, events=["ReportPublished"])
    assert (await publish(api, acme.publisher, {"event": "ReportPublished"}))["deliveries"] == 1
    response = await api.client.post(EVENTS, headers=acme.publisher, json=body)
    api.error(response, 400, "validation_error", "event")
    await services.catalog.add("ScanFinished")
    assert (await publish(api, acme.publisher, body))["deliveries"] == 0
    await services.catalog.remove("ScanFinished")
    response = await api.client.post(EVENTS, headers=acme.publisher, json=body)
    api.error(response, 400, "validation_error", "event")


@SQLITE_ONLY
async def test_a_cached_caller_is_never_another_callers(api, acme, other, services):
    """Callers are cached by their whole Authorization header: each key keeps its own tenant
    and role, and an unknown key is never cached into being accepted."""
    body = {"event": "ReportPublished"}
    for _ in range(2):
        await publish(api, acme.publisher, body)
        await publish(api, other.publisher, body)
        response = await api.client.post(EVENTS, headers=acme.viewer, json=body)
        api.error(response, 403, "forbidden")
        bad = {"Authorization": acme.publisher["Authorization"] + "x"}
        api.error(await api.client.post(EVENTS, headers=bad, json=body), 401, "unauthorized")
    assert await count_rows(services, "events") == 4


@SQLITE_ONLY
async def test_publish_routes_are_documented(api):
    document = (await api.client.get("/openapi.json")).json()
    for path, schema in [(EVENTS, "EventIn"), (BATCH, "BatchIn")]:
        operation = document["paths"][path]["post"]
        assert set(operation["responses"]) == {"202", "400", "401", "403", "413", "503"}
        assert operation["security"] == [{"bearer": []}]
        assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["title"] == schema
    single = document["paths"][EVENTS]["post"]["requestBody"]["content"]["application/json"]
    assert single["schema"]["required"] == ["event"]
    assert set(single["schema"]["properties"]) == {"event", "clientCuid", "data"}
    batch = document["paths"][BATCH]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["properties"]["events"]["items"] == single["schema"]
    assert batch["schema"]["properties"]["events"]["maxItems"] == 1000
    assert "$defs" not in json.dumps(document)


@SQLITE_ONLY
@pytest.mark.parametrize("depth", [300, 1010, 1030])
async def test_deeply_nested_data_is_stored_whole_or_refused_with_400(api, acme, services, depth):
    """Around the depths where the readers and writers of JSON stop (orjson writes 254 levels
    and reads 1024; the standard library stops near Python's recursion limit): either the
    event is stored with its data whole, or the answer is a 400 and nothing is stored."""
    await api.create(acme.admin)
    data = b'{"a":' * depth + b"1" + b"}" * depth
    raw = b'{"event":"ReportPublished","data":' + data + b"}"
    headers = {**acme.publisher, "Content-Type": "application/json"}
    response = await api.client.post(EVENTS, headers=headers, content=raw)
    if depth < 1000:
        assert response.status_code == 202, response.text
        body = (await claim_bodies(services))[response.json()["id"]]
        assert body.endswith(b',"data":' + data + b"}")
    else:
        code = response.json().get("error", {}).get("code")
        assert code in {"invalid_json", "validation_error"}, response.text
        api.error(response, 400, code)
        assert await stored(services) == (0, 0)
