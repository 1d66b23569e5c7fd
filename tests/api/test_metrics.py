"""Operations endpoints: ``GET /metrics`` (Prometheus) and what ``GET /readyz`` says of the
delivery engine."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
EVENTS = "/api/internal/events"


async def scrape(api) -> dict[str, float]:
    """``GET /metrics`` without a key, as ``{sample name: value}`` (unlabelled samples)."""
    response = await api.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if not sample.labels:
                samples[sample.name] = sample.value
    return samples


async def test_metrics_count_publishing_and_read_the_queue(api, acme):
    response = await api.client.get("/metrics")
    assert "# TYPE hookline_attempts_total counter" in response.text
    assert "# TYPE hookline_queue_depth gauge" in response.text
    before = await scrape(api)
    assert before["hookline_events_published_total"] == 0
    assert before["hookline_deliveries_published_total"] == 0
    assert before["hookline_queue_depth"] == 0
    for name in ["hookline_queue_due", "hookline_queue_oldest_due_seconds"]:
        assert name in before

    await api.create(acme.admin)
    await api.create(acme.admin, name="Second")
    key = {"Idempotency-Key": "once"}
    body = {"event": "ReportPublished"}
    response = await api.client.post(EVENTS, headers={**acme.publisher, **key}, json=body)
    assert response.json()["deliveries"] == 2
    after = await scrape(api)
    assert after["hookline_events_published_total"] == 1
    assert after["hookline_deliveries_published_total"] == 2
    assert after["hookline_queue_depth"] == 2
    assert after["hookline_queue_due"] == 2

    # A replay queues nothing and counts nothing; a batch counts each of its events.
    await api.client.post(EVENTS, headers={**acme.publisher, **key}, json=body)
    batch = {"events": [body, {"event": "AssessmentSubmitted"}, body]}
    response = await api.client.post(EVENTS + "/batch", headers=acme.publisher, json=batch)
    assert [item["deliveries"] for item in response.json()["data"]] == [2, 0, 2]
    last = await scrape(api)
    assert last["hookline_events_published_total"] == 4
    assert last["hookline_deliveries_published_total"] == 6
    assert last["hookline_queue_depth"] == 6


@SQLITE_ONLY
async def test_metrics_answer_without_the_database(api, acme, services):
    await api.create(acme.admin)
    await api.client.post(EVENTS, headers=acme.publisher, json={"event": "ReportPublished"})
    assert (await scrape(api))["hookline_queue_depth"] == 1
    await services.store.close()
    samples = await scrape(api)
    assert samples["hookline_events_published_total"] == 1
    assert samples["hookline_queue_depth"] == 1  # the last reading


@SQLITE_ONLY
async def test_readyz_says_running_only_while_the_engine_runs(api, services):
    services.roles = {"api"}
    assert (await api.client.get("/readyz")).json() == {
        "database": "ok",
        "engine": "absent",
        "service": "absent",
    }
    services.roles = {"api", "engine"}
    task = asyncio.create_task(services.engine.run())
    try:
        for _ in range(200):
            if services.engine.running:
                break
            await asyncio.sleep(0.005)
        response = await api.client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"database": "ok", "engine": "running", "service": "running"}
        services.roles = {"api"}  # running, but not this process's role: absent
        assert (await api.client.get("/readyz")).json()["engine"] == "absent"
        services.roles = {"api", "engine"}
    finally:
        services.engine.stop()
        await asyncio.wait_for(task, timeout=10)
    # Stopped: absent again.
    assert (await api.client.get("/readyz")).json()["engine"] == "absent"


@SQLITE_ONLY
async def test_metrics_route_is_documented_as_text(api):
    document = (await api.client.get("/openapi.json")).json()
    answer = document["paths"]["/metrics"]["get"]["responses"]["200"]
    assert list(answer["content"]) == ["text/plain; version=0.0.4; charset=utf-8"]
    assert "security" not in document["paths"]["/metrics"]["get"]
