"""Scenario 6, fan-out: one event to 10,000 webhooks.

``hookline serve`` on SQLite; the 10,000 signed webhooks are created through the API (8
requests in flight, no SQL), each with its own path on the one fast receiver (so they share
one endpoint, and Hookline's per-endpoint cap applies to all of them). Then, per run, one event
is published: time until its 202, and time until the receiver has all 10,000 deliveries
(both from the moment the request is sent).
"""

from __future__ import annotations

import time

from bench import stack
from bench.harness import BenchError
from bench.hookapi import EVENT, create_webhooks, event_data, post, session
from bench.hookapi import run as run_async
from bench.model import Context, Figure, Target

SCENARIO = 6
WEBHOOKS = 10_000


async def _publish_one(base: str) -> tuple[float, float]:
    async with session(1) as http:
        started = time.time()
        status, answer = await post(
            http, base + "/api/internal/events", {"event": EVENT, "data": event_data(0)}
        )
        accepted = time.time()
    if status != 202:
        raise BenchError(f"fan-out publish: {status} {answer}")
    return started, accepted - started


def run(ctx: Context) -> None:
    count = ctx.n(WEBHOOKS)
    accepted, received = [], []
    with ctx.processes(SCENARIO, "s6") as procs:
        deployment = stack.serve_sqlite(procs, "fanout")
        receiver, _ = procs.receiver()
        started = time.monotonic()
        urls = [receiver.url(f"/hook/{i}") for i in range(count)]
        run_async(create_webhooks(deployment.base, urls))
        created = time.monotonic() - started
        for _ in range(ctx.runs):
            receiver.window()
            sent_at, to_202 = run_async(_publish_one(deployment.base))
            stats = receiver.wait_count(count, ctx.budget.limit(120), "fan-out")
            accepted.append(to_202)
            received.append(stats["last"] - sent_at)
        duplicates = receiver.stats()["duplicates"]
    ctx.add(Figure(SCENARIO, "seconds to 202", "s", accepted, Target("<", 1)))
    ctx.add(Figure(SCENARIO, "seconds until all received", "s", received, Target("<", 5)))
    ctx.note(
        SCENARIO,
        f"{count:,} webhooks created through the API in {created:.1f} s "
        f"({count / created:,.0f}/s); {duplicates} duplicate deliveries",
    )
