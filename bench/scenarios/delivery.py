"""Scenarios 2 and 3, delivery throughput: N signed events to one webhook on the fast receiver.

Scenario 2 runs ``hookline serve`` on a fresh SQLite file; scenario 3 ``hookline api`` and two
``hookline worker`` on a fresh PostgreSQL database; each run starts a new deployment. The
events are published in batches of 500 (two requests in flight) while the engine is already
delivering, as in production. Two figures per run, from the receiver's clock:

* end-to-end: N / (first publish sent -> last delivery received);
* drain: receipts after the first / (first receipt -> last receipt). Hookline cannot be paused
  from outside, so this is the delivery rate once deliveries flow, publishing still going on.

Scenario 2's ratio to scenario 1 is taken run by run: right before each run, scenario 1's bare
client loads the same receiver (20,000 requests), and the run's ratio is over that ceiling. The
machine's speed drifts (the same build drained 4,276 and 5,456 deliveries/s in consecutive
runs), and a ratio of two medians measured minutes apart would carry the drift. Right after
each run, ``serve`` with two delivery processes (``HOOKLINE_ENGINE_PROCESSES=2``, not the
default) takes the same load on the same receiver: an extra figure, without a target.
"""

from __future__ import annotations

from typing import Any

from bench import stack
from bench.harness import BenchError, Receiver, rates
from bench.hookapi import create_webhooks, publish
from bench.hookapi import run as run_async
from bench.model import KINDS, Context, Figure, Target
from bench.scenarios import ceiling

EVENTS = 20_000
THROUGHPUT = Target(">=", 5000)
# Scenario 2's extra figure: serve with one delivery process per core of the reference machine.
DELIVERY_PROCESSES = {"HOOKLINE_ENGINE_PROCESS": "true", "HOOKLINE_ENGINE_PROCESSES": "2"}


def measure(ctx: Context, base: str, receiver: Receiver, n: int) -> dict[str, Any]:
    """Create one signed webhook, publish ``n`` events, wait until all are delivered."""
    run_async(create_webhooks(base, [receiver.url()]))
    receiver.window()
    published_at = run_async(publish(base, n))
    stats = receiver.wait_count(n, ctx.budget.limit(180), "delivery")
    if stats["unique"] < n:
        raise BenchError(f"{stats['unique']} distinct deliveries of {n}")
    return {**rates(stats, n, published_at), "duplicates": stats["duplicates"]}


def reference(ctx: Context, scenario: int, name: str, **extra: str) -> dict[str, Any]:
    """One run of scenario 2 on a deployment of its own, as the reference of another
    scenario's run that follows it (their ratio is then taken in the same minute); ``extra``:
    settings for ``serve`` (:data:`DELIVERY_PROCESSES`)."""
    with ctx.processes(scenario, name) as procs:
        receiver, _ = procs.receiver()
        deployment = stack.serve_sqlite(procs, "serve", **extra)
        return measure(ctx, deployment.base, receiver, ctx.n(EVENTS))


def reference_figure(scenario: int, references: list[dict[str, Any]], label: str = "") -> Figure:
    """The runs of :func:`reference` a scenario took, shown beside its figures."""
    return Figure(
        scenario,
        f"scenario 2{label} run just before each run, end to end",
        "/s",
        [ref["end_to_end"] for ref in references],
    )


def _report(ctx: Context, scenario: int, n: int, results: list[dict[str, Any]]) -> None:
    for kind, name in KINDS.items():
        target = THROUGHPUT if kind == "end_to_end" else None
        ctx.add(Figure(scenario, f"deliveries/s, {name}", "/s", [r[kind] for r in results], target))
    duplicates = sum(r["duplicates"] for r in results)
    ctx.note(scenario, f"{n:,} events a run; {duplicates} duplicate deliveries in all runs")


def run_sqlite(ctx: Context) -> None:
    """Scenario 2: ``hookline serve`` on SQLite, each run right after a ceiling run of its own.

    The ratio to scenario 1 is taken run by run, each over the ceiling measured on the same
    receiver just before it: this machine's speed drifts by a third within minutes (same
    build, consecutive runs), and a ratio of two medians taken minutes apart measures the
    drift as much as Hookline."""
    n = ctx.n(EVENTS)
    concurrency = ceiling.hookline_concurrency()
    results = []
    ceilings = []
    several = []
    for i in range(ctx.runs):
        with ctx.processes(2, f"s2-{i}") as procs:
            receiver, _ = procs.receiver()
            requests = ctx.n(ceiling.EVENTS, 1000)
            ceilings.append(ceiling.one_run(ctx, receiver, requests, concurrency))
            deployment = stack.serve_sqlite(procs, "serve")
            results.append(measure(ctx, deployment.base, receiver, n))
            procs.stop(deployment.api)
            deployment = stack.serve_sqlite(procs, "serve-processes", **DELIVERY_PROCESSES)
            several.append(measure(ctx, deployment.base, receiver, n))
    _report(ctx, 2, n, results)
    for kind, name in KINDS.items():
        target = Target(">=", 0.5) if kind == "end_to_end" else None
        ratios = [r[kind] / c for r, c in zip(results, ceilings, strict=True)]
        ctx.add(Figure(2, f"ratio to scenario 1, {name}", "x", ratios, target))
    ctx.add(Figure(2, "ceiling run just before each run (scenario 1's client)", "/s", ceilings))
    count = DELIVERY_PROCESSES["HOOKLINE_ENGINE_PROCESSES"]
    label = f"{count} delivery processes"
    ends = [r["end_to_end"] for r in several]
    ctx.add(Figure(2, f"deliveries/s, end to end, {label}", "/s", ends))
    ratios = [r / c for r, c in zip(ends, ceilings, strict=True)]
    ctx.add(Figure(2, f"ratio to scenario 1, end to end, {label}", "x", ratios))
    duplicates = sum(r["duplicates"] for r in several)
    ctx.note(
        2,
        f"then, on the same receiver, `serve` with {label} (HOOKLINE_ENGINE_PROCESS=true, "
        f"HOOKLINE_ENGINE_PROCESSES={count}; not the default): {duplicates} duplicate deliveries",
    )


def run_postgres(ctx: Context) -> None:
    """Scenario 3: ``hookline api`` + 2 ``hookline worker`` on PostgreSQL."""
    n = ctx.n(EVENTS)
    results = []
    for i in range(ctx.runs):
        with stack.fresh_database() as url, ctx.processes(3, f"s3-{i}") as procs:
            receiver, _ = procs.receiver()
            deployment = stack.postgres(procs, url, "pg", workers=2)
            results.append(measure(ctx, deployment.base, receiver, n))
    _report(ctx, 3, n, results)
