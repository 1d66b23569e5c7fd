"""Scenario 5, latency: publish -> receipt at a steady 500 events/s, from the SCHEDULED time.

An open-loop generator: event ``i`` is due at ``t0 + i / rate`` and is sent then (each send is
its own task, so a slow answer never delays the next send); it carries that scheduled time as
``data.sentAt``; the receiver records ``receipt - sentAt``. A generator or server that falls
behind therefore shows up in the figures instead of hiding in them. ``hookline serve`` on
SQLite, one signed webhook on the fast receiver, single-event ``POST /api/internal/events``; a
short warm-up (50 events) before each measured run, on the same deployment.
"""

from __future__ import annotations

import asyncio
import time

from bench import stack
from bench.harness import BenchError, Processes, Receiver
from bench.hookapi import EVENT, HEADERS, create_webhooks, event_data, session
from bench.hookapi import run as run_async
from bench.model import Context, Figure, Target

SCENARIO = 5
RATE = 500.0
SECONDS = 10.0
WARMUP = 50


async def open_loop(base: str, count: int, rate: float) -> tuple[int, float]:
    """Send ``count`` events on schedule; answers (non-202 answers, worst lateness in s)."""
    failures = 0
    worst_lag = 0.0
    url = base + "/api/internal/events"
    async with session(256) as http:

        async def send(due: float) -> None:
            nonlocal failures
            body = {"event": EVENT, "data": event_data(0, sent_at=due)}
            try:
                async with http.post(url, json=body, headers=HEADERS) as resp:
                    await resp.read()
                    failures += resp.status != 202
            except (OSError, TimeoutError):
                failures += 1

        tasks = []
        t0 = time.time() + 0.1
        for i in range(count):
            due = t0 + i / rate
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            worst_lag = max(worst_lag, time.time() - due)
            tasks.append(asyncio.create_task(send(due)))
        await asyncio.gather(*tasks)
    return failures, worst_lag


def one_run(ctx: Context, procs: Processes, count: int) -> dict[str, float]:
    deployment = stack.serve_sqlite(procs, "latency")
    receiver: Receiver
    receiver, _ = procs.receiver()
    run_async(create_webhooks(deployment.base, [receiver.url()]))
    run_async(open_loop(deployment.base, WARMUP, RATE))
    receiver.wait_count(WARMUP, 30, "latency warm-up")
    receiver.window()
    failures, lag = run_async(open_loop(deployment.base, count, RATE))
    if failures:
        raise BenchError(f"latency: {failures} events not accepted")
    receiver.wait_count(count, ctx.budget.limit(60), "latency")
    return {**receiver.latency(), "lag_ms": lag * 1000}


def run(ctx: Context) -> None:
    count = int(RATE * SECONDS * min(1.0, ctx.scale * 2))
    results = []
    for i in range(ctx.runs):
        with ctx.processes(SCENARIO, f"s5-{i}") as procs:
            results.append(one_run(ctx, procs, count))
    ctx.add(Figure(SCENARIO, "p50 ms", "ms", [r["p50_ms"] for r in results], Target("<=", 5)))
    ctx.add(Figure(SCENARIO, "p95 ms", "ms", [r["p95_ms"] for r in results]))
    ctx.add(Figure(SCENARIO, "p99 ms", "ms", [r["p99_ms"] for r in results], Target("<=", 25)))
    worst = max(r["max_ms"] for r in results)
    lag = max(r["lag_ms"] for r in results)
    ctx.note(
        SCENARIO,
        f"{count:,} events at {RATE:.0f}/s a run; worst single latency "
        f"{worst:.0f} ms; generator's worst lateness {lag:.1f} ms",
    )
