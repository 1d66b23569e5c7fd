"""Retries, backoff and Idempotency-Key reuse, with a scripted fake server.

A flaky network cannot be scripted against the real server, so these tests answer through an
``httpx.MockTransport`` whose answers are listed in advance. Every test runs with both
clients; the async one is driven with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.client.conftest import free_port

from hookline.client import (
    AsyncHookline,
    ConnectionFailed,
    Hookline,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnexpectedResponse,
    ValidationError,
)

KEY = "hk_mock-key-not-for-real-use"
PUBLISHED = {"id": "evt_1", "deliveries": 2}
WEBHOOK = {
    "id": "wh_1",
    "name": "n",
    "url": "https://example.com/",
    "clientCuids": [],
    "events": ["ReportPublished"],
    "sslVerification": True,
    "enabled": True,
    "hasSecret": False,
    "createdAt": "2026-01-31T12:00:00.000Z",
    "updatedAt": "2026-01-31T12:00:00.000Z",
}
Answer = httpx.Response | type[httpx.TransportError]


def reply(status: int, body: Any = None, **headers: str) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def error(status: int, code: str, message: str = "no") -> httpx.Response:
    return reply(status, {"error": {"code": code, "message": message, "details": []}})


class Script:
    """The fake server: answers in order, records every request."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, httpx.Response):
            return answer
        raise answer("scripted failure", request=request)

    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


class Driver:
    """Calls a method of either client the same way."""

    def __init__(self, flavour: str, script: Script, **options: Any) -> None:
        self.flavour = flavour
        settings = {"retries": 3, "backoff": 0.001, **options}
        transport = httpx.MockTransport(script)
        if flavour == "sync":
            self.client: Hookline | AsyncHookline = Hookline(
                "http://hookline.test", KEY, transport=transport, **settings
            )
        else:
            self.client = AsyncHookline(
                "http://hookline.test", KEY, transport=transport, **settings
            )

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if self.flavour == "async":
            return asyncio.run(result)
        return result

    def close(self) -> None:
        self("close")


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest) -> Iterator[Callable[..., Driver]]:
    drivers: list[Driver] = []

    def build(script: Script, **options: Any) -> Driver:
        drivers.append(Driver(request.param, script, **options))
        return drivers[-1]

    yield build
    for driver in drivers:
        driver.close()


def test_503_then_202_publishes_once_with_the_same_key(make: Callable[..., Driver]) -> None:
    script = Script(error(503, "database_unavailable"), reply(202, PUBLISHED))
    published = make(script)("publish", "ReportPublished", {"a": 1}, client_cuid="c1")
    assert (published.id, published.deliveries, published.replayed) == ("evt_1", 2, False)
    first, second = script.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    uuid.UUID(first.headers["Idempotency-Key"])  # generated: a UUID
    assert first.content == second.content
    assert json.loads(first.content) == {
        "event": "ReportPublished",
        "clientCuid": "c1",
        "data": {"a": 1},
    }
    assert first.headers["Authorization"] == f"Bearer {KEY}"
    assert first.headers["Content-Type"] == "application/json"


def test_connection_error_then_success(make: Callable[..., Driver]) -> None:
    script = Script(httpx.ConnectError, httpx.ReadTimeout, reply(202, {"data": [PUBLISHED]}))
    (published,) = make(script)("publish_batch", [{"event": "ReportPublished"}], "my-key")
    assert published.id == "evt_1"
    assert script.keys() == ["my-key", "my-key", "my-key"]
    assert script.requests[0].url.path == "/api/internal/events/batch"


def test_each_call_has_its_own_key(make: Callable[..., Driver]) -> None:
    script = Script(reply(202, PUBLISHED), reply(202, PUBLISHED, **{"Idempotent-Replayed": "true"}))
    driver = make(script)
    assert not driver("publish", "ReportPublished").replayed
    assert driver("publish", "ReportPublished").replayed
    first, second = script.keys()
    assert first != second


def test_4xx_is_not_retried(make: Callable[..., Driver]) -> None:
    body = {
        "error": {
            "code": "validation_error",
            "message": "event: unknown",
            "details": [{"field": "event", "message": "unknown event"}],
        }
    }
    script = Script(reply(400, body), reply(202, PUBLISHED))
    with pytest.raises(ValidationError) as caught:
        make(script)("publish", "Nope")
    assert (caught.value.code, caught.value.status) == ("validation_error", 400)
    assert caught.value.field_errors() == {"event": "unknown event"}
    assert len(script.requests) == 1


def test_429_honours_retry_after(make: Callable[..., Driver]) -> None:
    script = Script(
        reply(429, {"error": {"code": "rate_limited"}}, **{"Retry-After": "1"}),
        reply(202, PUBLISHED),
    )
    started = time.monotonic()
    assert make(script, backoff=0.001)("publish", "ReportPublished").id == "evt_1"
    assert time.monotonic() - started >= 0.95  # the answer's 1 s, not the 1 ms backoff
    assert len(set(script.keys())) == 1
    assert len(script.requests) == 2


def test_retries_are_bounded(make: Callable[..., Driver]) -> None:
    script = Script(*[error(503, "database_unavailable", "try again")] * 3)
    with pytest.raises(ServerError) as caught:
        make(script, retries=2)("publish", "ReportPublished")
    assert (caught.value.code, caught.value.status) == ("database_unavailable", 503)
    assert len(script.requests) == 3
    assert len(set(script.keys())) == 1

    limited = Script(*[reply(429, None, **{"Retry-After": "0"})] * 2)
    with pytest.raises(RateLimitedError) as slow:
        make(limited, retries=1)("publish", "ReportPublished")
    assert slow.value.code == "too_many_requests"
    assert slow.value.retry_after == 0.0


def test_backoff_grows(make: Callable[..., Driver]) -> None:
    script = Script(*[reply(502, None)] * 3, reply(202, PUBLISHED))
    started = time.monotonic()
    make(script, backoff=0.05)("publish", "ReportPublished")
    elapsed = time.monotonic() - started
    assert 0.05 * (1 + 2 + 4) * 0.8 <= elapsed < 2  # 50, 100, 200 ms (+-20%)


def test_management_calls_retry_only_when_safe(make: Callable[..., Driver]) -> None:
    reads = Script(reply(502, None), httpx.ReadError, reply(200, WEBHOOK))
    assert make(reads)("get_webhook", "wh_1").id == "wh_1"
    assert len(reads.requests) == 3

    create = Script(error(500, "internal_error"), reply(201, WEBHOOK))
    with pytest.raises(ServerError):
        make(create)("create_webhook", "n", "https://example.com/", ["ReportPublished"])
    assert len(create.requests) == 1

    lost = Script(httpx.ReadTimeout, reply(201, WEBHOOK))
    with pytest.raises(ConnectionFailed) as caught:
        make(lost)("create_webhook", "n", "https://example.com/", ["ReportPublished"])
    assert caught.value.code == "timeout"
    assert caught.value.status is None
    assert len(lost.requests) == 1

    unsent = Script(httpx.ConnectError, reply(201, WEBHOOK))  # never left: safe to send again
    assert make(unsent)("create_webhook", "n", "https://example.com/", ["ReportPublished"])
    assert len(unsent.requests) == 2

    limited = Script(error(429, "rate_limited"), reply(200, {}))
    with pytest.raises(RateLimitedError):
        make(limited)("test_webhook", url="https://example.com/")
    assert len(limited.requests) == 1


def test_delete_retried_after_a_lost_answer_is_done(make: Callable[..., Driver]) -> None:
    script = Script(httpx.ReadTimeout, error(404, "not_found"))
    assert make(script)("delete_webhook", "wh_1") is None
    assert [r.method for r in script.requests] == ["DELETE", "DELETE"]

    first_time = Script(error(404, "not_found"))
    with pytest.raises(NotFoundError):
        make(first_time)("delete_webhook", "wh_1")


def test_update_sends_only_the_given_fields(make: Callable[..., Driver]) -> None:
    script = Script(reply(200, WEBHOOK), reply(200, WEBHOOK), reply(200, WEBHOOK))
    driver = make(script)
    driver("update_webhook", "wh/../1", secret=None)
    driver("update_webhook", "wh_1", name="x", client_cuids=("c1",))
    driver("update_webhook", "wh_1")
    bodies = [json.loads(r.content) for r in script.requests]
    assert bodies == [{"secret": None}, {"name": "x", "clientCuids": ["c1"]}, {}]
    assert script.requests[0].url.raw_path == b"/api/internal/webhooks/wh%2F..%2F1"
    assert all(r.method == "PATCH" for r in script.requests)


def test_an_undocumented_answer_is_a_typed_error(make: Callable[..., Driver]) -> None:
    script = Script(httpx.Response(200, text="<html>proxy</html>"), reply(502, None))
    driver = make(script, retries=0)
    with pytest.raises(UnexpectedResponse):
        driver("get_webhook", "wh_1")
    with pytest.raises(ServerError) as caught:
        driver("get_webhook", "wh_1")
    assert (caught.value.code, caught.value.status) == ("bad_gateway", 502)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_real_refused_connection_fails_after_the_retries(flavour: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client: Hookline | AsyncHookline
    if flavour == "sync":
        with (
            Hookline(url, KEY, retries=2, backoff=0.001) as client,
            pytest.raises(ConnectionFailed) as caught,
        ):
            client.publish("ReportPublished")
    else:

        async def main() -> None:
            async with AsyncHookline(url, KEY, retries=2, backoff=0.001) as client:
                await client.publish("ReportPublished")

        with pytest.raises(ConnectionFailed) as caught:
            asyncio.run(main())
    assert caught.value.code == "connection_failed"
    assert "after 3 attempts" in caught.value.message
    assert KEY not in str(caught.value) + repr(caught.value)
