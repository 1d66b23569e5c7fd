"""Scenario 9, the peer: a Celery worker with a ``requests.post`` task (bench/peer_celery.py).

Same receiver, same ~500-byte signed body. The worker runs Celery's default pool (prefork) with
8 processes: on this 2-core machine that was the fastest set-up we tried (threads x 64, as many
in flight as Hookline, and threads x 8-16, were slower; so was the default of one process per
core), so the comparison is with the peer at its best. The producer enqueues the N tasks as
fast as it can (the publish), the worker delivers them; the figures are scenario 2's: first
publish -> last receipt, and drain over the receipt window. Redis db 15 is flushed before and
after. Hookline's ratio to the peer is taken run by run: right before each peer run, one run of
scenario 2 (20,000 events, a deployment of its own) is its Hookline figure. A second ratio
takes both at their best: right before each peer run, also a run of ``serve`` with one
delivery process per core (``HOOKLINE_ENGINE_PROCESSES=2``), since the peer runs its fastest
pool; the target is shown against both.
"""

from __future__ import annotations

import os
import sys
import time

from bench.harness import ROOT, WEBHOOK_SECRET, BenchError, Processes, rates
from bench.hookapi import delivery_body
from bench.model import KINDS, Context, Figure, Target
from bench.scenarios import delivery

SCENARIO = 9
EVENTS = 4_000
POOL = "prefork"
CONCURRENCY = 8
PROCESSES = delivery.DELIVERY_PROCESSES["HOOKLINE_ENGINE_PROCESSES"]


def _flush() -> None:
    import redis

    from bench.peer_celery import BROKER

    redis.Redis.from_url(BROKER).flushdb()


def one_run(ctx: Context, procs: Processes, n: int, concurrency: int) -> dict[str, float]:
    from bench.peer_celery import app, deliver

    receiver, _ = procs.receiver()
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.peer_celery",
        "worker",
        "--pool",
        POOL,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "warning",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    worker = procs.start("celery", argv, env)
    deadline = time.monotonic() + 30
    while not app.control.ping(timeout=0.5):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"celery worker did not start: {procs.tail('celery')}")
    bodies = [delivery_body(i).decode() for i in range(n)]
    url = receiver.url()
    published_at = time.time()
    for i, body in enumerate(bodies):
        deliver.apply_async((url, WEBHOOK_SECRET, f"dlv_peer_{i}", body))
    enqueued = time.time() - published_at
    stats = receiver.wait_count(n, ctx.budget.limit(180), "celery peer")
    procs.stop(worker)
    return {**rates(stats, n, published_at), "enqueue_s": enqueued, "dups": stats["duplicates"]}


def run(ctx: Context) -> None:
    n = ctx.n(EVENTS)
    concurrency = CONCURRENCY
    results = []
    references = []
    at_best = []
    try:
        for i in range(ctx.runs):
            references.append(delivery.reference(ctx, SCENARIO, f"s9-reference-{i}"))
            at_best.append(
                delivery.reference(
                    ctx, SCENARIO, f"s9-processes-{i}", **delivery.DELIVERY_PROCESSES
                )
            )
            _flush()
            with ctx.processes(SCENARIO, f"s9-{i}") as procs:
                results.append(one_run(ctx, procs, n, concurrency))
    finally:
        _flush()
    for kind, name in KINDS.items():
        values = [r[kind] for r in results]
        ctx.add(Figure(SCENARIO, f"peer deliveries/s, {name}", "/s", values))
        target = Target(">=", 10) if kind == "end_to_end" else None
        ratios = [ref[kind] / v for ref, v in zip(references, values, strict=True)]
        ctx.add(Figure(SCENARIO, f"Hookline (scenario 2) / peer, {name}", "x", ratios, target))
        # Both at their best: the peer runs its fastest pool (8 processes), Hookline one
        # delivery process per core of the reference machine.
        ratios = [ref[kind] / v for ref, v in zip(at_best, values, strict=True)]
        label = f"Hookline ({PROCESSES} delivery processes) / peer, {name}"
        ctx.add(Figure(SCENARIO, label, "x", ratios, target))
    ctx.add(delivery.reference_figure(SCENARIO, references))
    ctx.add(delivery.reference_figure(SCENARIO, at_best, f" with {PROCESSES} delivery processes"))
    enqueue = max(r["enqueue_s"] for r in results)
    ctx.note(
        SCENARIO,
        f"{n:,} tasks a run (fewer than scenario 2: the peer is slower); Celery "
        f"{POOL} pool x {concurrency}; enqueueing took up to {enqueue:.1f} s; "
        f"{sum(r['dups'] for r in results)} duplicates",
    )
