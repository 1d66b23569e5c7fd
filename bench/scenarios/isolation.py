"""Scenario 7, isolation: half the endpoints hang past the timeout, the other half are fast.

``hookline serve`` on SQLite with ``HOOKLINE_DELIVERY_TIMEOUT=1``. The receiver answers on one
port and holds a second one that reads each request and never answers; one signed webhook on
each, so each of the 10,000 events makes one healthy and one hanging delivery (a hanging one
times out after 1 s and is retried 5 s later). The healthy endpoint is set up exactly as in
scenario 2, so its throughput (the same two figures) is compared with scenario 2's, run by
run: right before each run, one run of scenario 2 (20,000 events, a deployment of its own) is
the reference of its share, so that the machine's drift between scenarios is not counted. A
run ends when every healthy delivery is in or after 15 s (the rate is then over what arrived).

Without a target, the same with 4 + 4 endpoints and 500 events: there the hanging endpoints'
per-endpoint caps (4 x 64 by default) add up to the whole global cap (256).
"""

from __future__ import annotations

from bench import stack
from bench.harness import BenchError, Processes, rates
from bench.hookapi import create_webhooks, publish
from bench.hookapi import run as run_async
from bench.model import KINDS, Context, Figure, Target
from bench.scenarios import delivery

SCENARIO = 7
EVENTS = 10_000
ENDPOINTS = 1  # healthy endpoints; as many more hang
WIDE_EVENTS = 500
WIDE_ENDPOINTS = 4
TIMEOUT = "1"
RUN_SECONDS = 15  # a run ends when all healthy deliveries are in, or after this long


def one_run(ctx: Context, procs: Processes, n: int, endpoints: int) -> dict[str, float]:
    """Publish ``n`` events; measure the healthy deliveries until all are in or time is up."""
    deployment = stack.serve_sqlite(procs, "isolation", HOOKLINE_DELIVERY_TIMEOUT=TIMEOUT)
    receiver, ports = procs.receiver(count=endpoints, hang=endpoints)
    urls = [receiver.url(port=p) for p in ports + list(receiver.hang_ports)]
    run_async(create_webhooks(deployment.base, urls))
    healthy = n * endpoints
    published_at = run_async(publish(deployment.base, n))
    stats = receiver.wait_until(healthy, ctx.budget.limit(RUN_SECONDS))
    if stats["count"] < 2:
        raise BenchError(f"isolation: {stats['count']} healthy deliveries in {RUN_SECONDS} s")
    if stats["count"] >= healthy and stats["unique"] < healthy:
        raise BenchError(f"isolation: {stats['unique']} distinct deliveries of {healthy}")
    received = min(stats["count"], healthy)
    return {**rates(stats, received, published_at), "hung": stats["hung"], "got": received}


def run(ctx: Context) -> None:
    n = ctx.n(EVENTS)
    references = []
    results = []
    for i in range(ctx.runs):
        references.append(delivery.reference(ctx, SCENARIO, f"s7-reference-{i}"))
        results.append(_run(ctx, i, n, ENDPOINTS))
    for kind, name in KINDS.items():
        values = [r[kind] for r in results]
        ctx.add(Figure(SCENARIO, f"healthy deliveries/s, {name}", "/s", values))
        target = Target(">=", 80) if kind == "end_to_end" else None
        shares = [100 * v[kind] / ref[kind] for v, ref in zip(results, references, strict=True)]
        ctx.add(Figure(SCENARIO, f"share of scenario 2, {name}", "%", shares, target))
    ctx.add(delivery.reference_figure(SCENARIO, references))
    hung = sum(r["hung"] for r in results) / len(results)
    ctx.note(
        SCENARIO,
        f"{n:,} events a run x {ENDPOINTS} healthy + {ENDPOINTS} hanging endpoints "
        f"({n * ENDPOINTS:,} healthy deliveries a run, received {_got(results)}); "
        f"timeout {TIMEOUT} s; ~{hung:,.0f} attempts hung a run",
    )
    # The same with as many hanging endpoints as it takes to fill the global cap with their
    # per-endpoint caps (4 x 64 = 256 by default): a smaller load, without a target.
    wide = ctx.n(WIDE_EVENTS, 50)
    results = [_run(ctx, i, wide, WIDE_ENDPOINTS) for i in range(ctx.runs)]
    label = f"healthy deliveries/s, drain, {WIDE_ENDPOINTS} + {WIDE_ENDPOINTS} endpoints"
    ctx.add(Figure(SCENARIO, label, "/s", [r["drain"] for r in results]))
    ctx.note(
        SCENARIO,
        f"with {WIDE_ENDPOINTS} + {WIDE_ENDPOINTS} endpoints: {wide:,} events a run "
        f"({wide * WIDE_ENDPOINTS:,} healthy deliveries, received {_got(results)})",
    )


def _run(ctx: Context, i: int, n: int, endpoints: int) -> dict[str, float]:
    with ctx.processes(SCENARIO, f"s7-{endpoints}-{i}") as procs:
        return one_run(ctx, procs, n, endpoints)


def _got(results: list[dict[str, float]]) -> str:
    """How many healthy deliveries each run received (a run is cut after RUN_SECONDS)."""
    return ", ".join(f"{r['got']:,.0f}" for r in results) + f" within {RUN_SECONDS} s"
