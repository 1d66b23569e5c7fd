"""What schemathesis found (tests/fuzz), kept as ordinary tests on both stores."""

from __future__ import annotations

import pytest

EVENTS = "/api/internal/events"
BATCH = EVENTS + "/batch"
EVENT = {"event": "ReportPublished", "data": {}}


@pytest.mark.parametrize(
    ("first", "then", "then_body"),
    [
        pytest.param(EVENTS, BATCH, {"events": [EVENT]}, id="single-then-batch"),
        pytest.param(BATCH, EVENTS, EVENT, id="batch-then-single"),
    ],
)
async def test_idempotency_key_reused_on_the_other_publish_route(
    api, acme, first: str, then: str, then_body: dict
) -> None:
    """A key first used on one publish route, then on the other, must not replay the first
    route's answer: each route has its own keys, so the second request is published anew."""
    headers = {**acme.publisher, "Idempotency-Key": "k-shared-by-both-routes"}
    first_body = {"events": [EVENT]} if first == BATCH else EVENT
    response = await api.client.post(first, headers=headers, json=first_body)
    assert response.status_code == 202, response.text
    response = await api.client.post(then, headers=headers, json=then_body)
    assert response.status_code == 202, response.text
    assert "Idempotent-Replayed" not in response.headers
    answer = response.json()
    if then == BATCH:
        assert set(answer) == {"data"}, answer
    else:
        assert set(answer) == {"id", "deliveries"}, answer
