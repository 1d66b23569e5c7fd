"""The raw publish endpoint answers exactly as the documented FastAPI routes do.

``create_app`` answers ``POST /api/internal/events[/batch]`` with
:class:`~hookline.api.publishing.RawPublish`, ahead of FastAPI's middleware stack and routing.
Every request here goes to that app and to the same app without it (so to the FastAPI
routes), on the same services, and both answers must match: status, envelope, and the headers
clients rely on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from hookline.api.app import MAX_BODY_BYTES, create_app
from hookline.api.publishing import RawPublish
from hookline.runtime import Services
from hookline.services.events import BATCH_MAX

EVENTS = "/api/internal/events"
BATCH = EVENTS + "/batch"
HEADERS_COMPARED = ("content-type", "www-authenticate", "idempotent-replayed", "connection")


@pytest.fixture
async def both(services: Services) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """A client of the app as served (raw), and one of the app without the raw endpoint."""
    raw_app = create_app(services)
    assert isinstance(raw_app.raw_publish, RawPublish)
    routed_app = create_app(services)
    routed_app.raw_publish = None
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=raw_app), base_url="http://t") as raw,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=routed_app), base_url="http://t"
        ) as routed,
    ):
        yield raw, routed


def without_ids(text: str) -> object:
    """An answer with event ids blanked (each publish makes new ones)."""
    answer = json.loads(text)
    for item in answer.get("data", [answer]) if isinstance(answer, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            item["id"] = item["id"][:4]
    return answer


async def same_answer(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], path: str, **request: object
) -> httpx.Response:
    raw, routed = both
    first = await raw.post(path, **request)  # type: ignore[arg-type]
    second = await routed.post(path, **request)  # type: ignore[arg-type]
    assert first.status_code == second.status_code, (first.text, second.text)
    assert without_ids(first.text) == without_ids(second.text)
    for name in HEADERS_COMPARED:
        assert first.headers.get(name) == second.headers.get(name), name
    return first


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_auth_errors_match(both, acme, other, services):
    assert error_code(await same_answer(both, EVENTS, json={"event": "x"})) == "unauthorized"
    bad = {"Authorization": "Bearer nope"}
    assert error_code(await same_answer(both, BATCH, json={}, headers=bad)) == "unauthorized"
    response = await same_answer(both, EVENTS, json={}, headers=acme.revoked)
    assert response.headers["www-authenticate"] == "Bearer"
    viewer = await same_answer(both, EVENTS, json={"event": "ReportPublished"}, headers=acme.viewer)
    assert viewer.status_code == 403
    await services.accounts.set_tenant_enabled(other.name, False)
    disabled = await same_answer(both, EVENTS, json={}, headers=other.publisher)
    assert error_code(disabled) == "webhooks_disabled"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"   ", None),
        (b"{", "application/json"),
        (b"[1]", "application/json"),
        (b'{"event": "ReportPublished"}', "text/plain"),
        (b'{"event": "ReportPublished", "data": {"n": NaN}}', "application/json"),
        (b'{"event": "\\ud800"}', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
)
async def test_body_errors_match(both, acme, content, content_type):
    headers = dict(acme.publisher)
    if content_type is not None:
        headers["Content-Type"] = content_type
    for path in (EVENTS, BATCH):
        response = await same_answer(both, path, content=content, headers=headers)
        assert error_code(response) == "invalid_json"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (EVENTS, {"event": "NoSuchEvent", "colour": "red", "data": [1]}),
        (EVENTS, {"event": 7, "clientCuid": ""}),
        (BATCH, {"events": [], "extra": 1}),
        (BATCH, {"events": []}),
        (BATCH, {}),
        (BATCH, {"events": "all"}),
        (BATCH, {"events": [{"event": "ReportPublished"}, 3, {"event": "Nope", "x": 1}]}),
        (BATCH, {"events": [{"event": "ReportPublished"}] * (BATCH_MAX + 1)}),
    ],
)
async def test_validation_errors_match(both, acme, path, body):
    response = await same_answer(both, path, json=body, headers=acme.publisher)
    assert error_code(response) == "validation_error"
    assert response.json()["error"]["details"]


async def test_bad_idempotency_key_matches(both, acme):
    headers = {**acme.publisher, "Idempotency-Key": "caf\u00e9".encode()}  # bytes: not ASCII
    response = await same_answer(both, EVENTS, json={"event": "ReportPublished"}, headers=headers)
    assert response.json()["error"]["details"][0]["field"] == "Idempotency-Key"


async def test_too_large_matches(both, acme):
    big = b'{"event": "ReportPublished", "data": {"s": "' + b"x" * MAX_BODY_BYTES + b'"}}'
    declared = await same_answer(both, EVENTS, content=big, headers=acme.publisher)
    assert (declared.status_code, error_code(declared)) == (413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it is read
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    for client in both:
        streamed = await client.post(BATCH, content=chunks(), headers=acme.publisher)
        assert (streamed.status_code, error_code(streamed)) == (413, "payload_too_large")


async def test_accepted_answers_match_and_a_replay_is_byte_identical(both, acme, api):
    await api.create(acme.admin)
    single = await same_answer(
        both, EVENTS, json={"event": "ReportPublished", "data": {"n": 1}}, headers=acme.publisher
    )
    assert (single.status_code, single.json()["deliveries"]) == (202, 1)
    assert single.headers["content-type"] == "application/json"
    batch = await same_answer(
        both, BATCH, json={"events": [{"event": "ReportPublished"}] * 3}, headers=acme.publisher
    )
    assert [d["deliveries"] for d in batch.json()["data"]] == [1, 1, 1]

    raw, routed = both
    keyed = {**acme.publisher, "Idempotency-Key": "order-42"}
    first = await raw.post(EVENTS, json={"event": "ReportPublished"}, headers=keyed)
    assert first.status_code == 202
    assert "idempotent-replayed" not in first.headers
    for client in (raw, routed, raw):
        again = await client.post(EVENTS, json={"event": "ReportPublished"}, headers=keyed)
        assert again.status_code == 202
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"


async def test_other_methods_and_paths_go_on_to_fastapi(both, acme):
    raw, _ = both
    wrong_method = await raw.get(EVENTS, headers=acme.publisher)
    assert (wrong_method.status_code, error_code(wrong_method)) == (405, "method_not_allowed")
    trailing = await raw.post(EVENTS + "/", json={}, headers=acme.publisher)
    assert trailing.status_code != 202
    assert "/api/internal/events" in (await raw.get("/openapi.json")).json()["paths"]


async def test_a_bug_is_a_logged_500_as_on_every_other_route(both, acme, services, caplog):
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom: internal detail")

    services.events.publish = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="hookline.api"):
        response = await same_answer(
            both, EVENTS, json={"event": "ReportPublished"}, headers=acme.publisher
        )
    assert (response.status_code, error_code(response)) == (500, "internal_error")
    assert "boom" not in response.text
    records = [r for r in caplog.records if r.name == "hookline.api"]
    assert len(records) == 2  # one per app: the raw endpoint's and FastAPI's
    for record in records:
        assert record.getMessage() == "internal error on POST /api/internal/events"
    assert acme.publisher["Authorization"].split()[1] not in caplog.text


async def test_each_publish_counts_as_pressure_while_worked_on_and_once_answered_with_events(
    both, acme, api, services
):
    # What the delivery engine of the same process gives way to (hookline.delivery.pressure).
    await api.create(acme.admin)
    pressure = services.pressure
    seen: list[tuple[int, int]] = []
    real_publish, real_batch = services.events.publish, services.events.publish_batch

    async def watched(*args: object, **kwargs: object) -> object:
        seen.append((pressure.in_progress, pressure.events_in_progress))
        return await real_publish(*args, **kwargs)  # type: ignore[arg-type]

    async def watched_batch(*args: object, **kwargs: object) -> object:
        seen.append((pressure.in_progress, pressure.events_in_progress))
        return await real_batch(*args, **kwargs)  # type: ignore[arg-type]

    services.events.publish = watched  # type: ignore[method-assign]
    services.events.publish_batch = watched_batch  # type: ignore[method-assign]
    keyed = {**acme.publisher, "Idempotency-Key": "pressure-1"}
    for client in both:
        before = pressure.answered
        single = await client.post(EVENTS, json={"event": "ReportPublished"}, headers=keyed)
        batch = await client.post(
            BATCH, json={"events": [{"event": "ReportPublished"}] * 3}, headers=acme.publisher
        )
        refused = await client.post(EVENTS, json={"event": 7}, headers=acme.publisher)
        assert [single.status_code, batch.status_code, refused.status_code] == [202, 202, 400]
        # A batch counts once, as a single publish does; the keyed one is stored once (the
        # second client's is a replay), the refused one not at all.
        assert pressure.answered - before == (2 if client is both[0] else 1)
        assert (pressure.in_progress, pressure.events_in_progress) == (0, 0)
    # Each counted while worked on, refused or not; a batch with its events once read.
    assert seen == [(1, 0), (1, 3), (1, 0)] * 2

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    services.events.publish = broken  # type: ignore[method-assign]
    services.events.publish_batch = broken  # type: ignore[method-assign]
    for client in both:
        failed = await client.post(EVENTS, json={"event": "ReportPublished"}, headers=keyed)
        assert failed.status_code == 500
        failed = await client.post(
            BATCH, json={"events": [{"event": "ReportPublished"}] * 2}, headers=acme.publisher
        )
        assert failed.status_code == 500
    assert (pressure.in_progress, pressure.events_in_progress) == (0, 0)
