"""Scenario 8, backlog: deliveries queued while no worker runs, then drained by 2 workers.

The honest way to queue deliveries with no engine running is PostgreSQL with only
``hookline api`` (``serve`` always delivers, and SQLite needs ``serve``): events are published
in batches of 1,000, each fanning out to 10 signed webhooks (distinct paths on the one fast
receiver: one endpoint), until 1,000,000 deliveries are queued (or the time allowed for
queueing, a quarter of what the budget has left, ends: the notes give the size reached).

The backlog is then drained in 3 runs: each starts 2 fresh ``hookline worker`` processes, lets
them deliver a third of it or until the run's share of the time left ends (the first run
starts with the whole backlog queued), reads each worker's peak RSS (VmHWM in
/proc/<pid>/status) and stops them. Drain rate = receipts after the first / receipt window.
The queue is not shrunk to what the time left could drain: its size is what this scenario
tests, so what stays undelivered is said in the notes instead (and dropped with the database).
"""

from __future__ import annotations

import time

from bench import stack
from bench.harness import BenchError, peak_rss_mb
from bench.hookapi import create_webhooks, publish
from bench.hookapi import run as run_async
from bench.model import Context, Figure, Target

SCENARIO = 8
TARGET_DELIVERIES = 1_000_000
WEBHOOKS = 10
PUBLISH_SHARE = 0.25  # of the scenario's time, at most, for queueing
DRAIN_SHARE = 0.65  # for the 3 drain runs (the rest: start-up and stopping)
RESERVE = 10.0  # seconds of the budget left for the report


def plan(ctx: Context) -> tuple[int, float, float]:
    """(deliveries to queue, seconds to queue them, seconds for each drain run)."""
    seconds = max(30.0, ctx.budget.remaining() - RESERVE)
    size = int(TARGET_DELIVERIES * ctx.scale)
    return size - size % (WEBHOOKS * 1000), seconds * PUBLISH_SHARE, seconds * DRAIN_SHARE / 3


def populate(base: str, deliveries: int, seconds: float) -> tuple[int, float]:
    """Queue up to ``deliveries`` in chunks until done or ``seconds`` run out."""
    events = deliveries // WEBHOOKS
    started = time.monotonic()
    published = 0
    while published < events and time.monotonic() - started < seconds:
        chunk = min(events - published, 20_000)
        run_async(publish(base, chunk, batch=1000, concurrency=2))
        published += chunk
    return published * WEBHOOKS, time.monotonic() - started


def run(ctx: Context) -> None:
    size, publish_seconds, run_seconds = plan(ctx)
    drains: list[float] = []
    rss: list[float] = []
    with stack.fresh_database() as url, ctx.processes(SCENARIO, "s8") as procs:
        receiver, _ = procs.receiver()
        deployment = stack.postgres(procs, url, "backlog", workers=0)
        run_async(
            create_webhooks(deployment.base, [receiver.url(f"/b/{i}") for i in range(WEBHOOKS)])
        )
        queued, took = populate(deployment.base, size, publish_seconds)
        pending = stack.pg_count(url, "SELECT count(*) FROM deliveries WHERE status = 'pending'")
        if pending != queued:
            raise BenchError(f"backlog: {pending} pending deliveries, {queued} expected")
        ctx.note(
            SCENARIO,
            f"{queued:,} deliveries queued ({queued // WEBHOOKS:,} events x "
            f"{WEBHOOKS} webhooks) with only `hookline api` running, in {took:.1f} s "
            f"({queued / took:,.0f} deliveries/s)",
        )
        per_run = queued // 3
        api_rss = 0.0
        for i in range(3):
            receiver.window()
            want = per_run if i < 2 else queued - receiver.stats()["unique"]
            stack.start_workers(procs, deployment, "backlog", 2)
            stats = receiver.wait_until(want, ctx.budget.limit(run_seconds))
            rss.append(max(peak_rss_mb(w.pid) for w in deployment.workers))
            api_rss = peak_rss_mb(deployment.api.pid)
            for worker in deployment.workers:
                procs.stop(worker)
            if stats["count"] > 1:
                drains.append((stats["count"] - 1) / (stats["last"] - stats["first"]))
            if stats["count"] < want:
                ctx.note(
                    SCENARIO,
                    f"run {i + 1} ended at its time share ({run_seconds:.0f} s): "
                    f"{stats['count']:,} of {want:,} delivered",
                )
        final = receiver.stats()
        left = stack.pg_count(url, "SELECT count(*) FROM deliveries WHERE status <> 'succeeded'")
    ctx.add(Figure(SCENARIO, "peak RSS per worker, MB", "MB", rss, Target("<=", 300)))
    ctx.add(Figure(SCENARIO, "drain deliveries/s (2 workers)", "/s", drains))
    ctx.note(
        SCENARIO,
        f"received {final['unique']:,} distinct, {final['duplicates']} duplicates; "
        f"{left:,} not succeeded at the end; `hookline api` peak RSS "
        f"{api_rss:.0f} MB",
    )
    if queued < size:
        ctx.note(
            SCENARIO,
            f"queue of {queued:,} deliveries, not {size:,}: the time allowed for queueing ran out",
        )
    elif size < TARGET_DELIVERIES:
        ctx.note(SCENARIO, f"queue of {size:,} deliveries (scaled run), not 1,000,000")
