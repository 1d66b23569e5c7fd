"""Talking to Hookline's API from the benchmark: webhooks, events, and the body they carry.

Every event carries the same ~500-byte body (a report, as PlexTrac would publish), so every
scenario and the non-Hookline senders (the ceiling client, the Celery peer) send the same
bytes. Requests go through aiohttp with a few concurrent requests, on loopback only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from bench.harness import ADMIN_KEY, WEBHOOK_SECRET, BenchError

EVENT = "ReportPublished"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
_FILLER = "Findings were reviewed and accepted by the client; remediation is tracked. "


def event_data(n: int, sent_at: float | None = None) -> dict[str, Any]:
    """The ``data`` of event number ``n``: a Hookline delivery body of about 500 bytes."""
    data: dict[str, Any] = {
        "n": n,
        "report": {
            "id": f"rpt_{n:012d}",
            "title": "Quarterly external penetration test",
            "status": "published",
            "severity": {"critical": 1, "high": 4, "medium": 9, "low": 17},
            "summary": _FILLER * 2,
        },
    }
    if sent_at is not None:
        data["sentAt"] = round(sent_at, 6)
    return data


def delivery_body(n: int, sent_at: float | None = None) -> bytes:
    """The body Hookline would send for event ``n`` (the same shape and size)."""
    return json.dumps(
        {
            "id": f"evt_{n:026d}",
            "event": EVENT,
            "createdAt": "2026-11-29T12:00:00.000000Z",
            "clientCuid": None,
            "data": event_data(n, sent_at),
        },
        separators=(",", ":"),
    ).encode()


def session(limit: int = 64) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit), timeout=aiohttp.ClientTimeout(total=60)
    )


async def post(http: aiohttp.ClientSession, url: str, body: object) -> tuple[int, Any]:
    async with http.post(url, data=json.dumps(body), headers=HEADERS) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else None


async def bounded(jobs: Sequence[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Run ``jobs`` with at most ``concurrency`` at a time."""
    queue = list(reversed(jobs))

    async def lane() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def create_webhooks(
    base: str, urls: Sequence[str], concurrency: int = 8, events: Sequence[str] = (EVENT,)
) -> list[str]:
    """Create one signed webhook per URL through the API; answers their ids."""
    ids: list[str] = [""] * len(urls)

    async with session(concurrency) as http:

        async def create(i: int) -> None:
            body = {
                "name": f"bench-{i}",
                "url": urls[i],
                "events": list(events),
                "secret": WEBHOOK_SECRET,
            }
            status, answer = await post(http, base + "/api/internal/webhooks", body)
            if status != 201:
                raise BenchError(f"creating a webhook: {status} {answer}")
            ids[i] = answer["id"]

        await bounded([lambda i=i: create(i) for i in range(len(urls))], concurrency)
    return ids


async def publish(base: str, n: int, batch: int = 500, concurrency: int = 2) -> float:
    """Publish events 0..n-1 in batches; answers the time the first request was sent."""
    first: list[float] = []

    async with session(concurrency) as http:

        async def send(offset: int) -> None:
            items = [
                {"event": EVENT, "data": event_data(offset + i)}
                for i in range(min(batch, n - offset))
            ]
            body = {"events": items}
            if not first:
                first.append(time.time())
            status, answer = await post(http, base + "/api/internal/events/batch", body)
            if status != 202:
                raise BenchError(f"publishing a batch: {status} {answer}")

        await bounded([lambda o=o: send(o) for o in range(0, n, batch)], concurrency)
    return first[0]


def run(coro: Awaitable[Any]) -> Any:
    """Run a coroutine on uvloop when it is installed (the benchmark's own client is lean)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]
