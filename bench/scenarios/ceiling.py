"""Scenario 1, the ceiling: the fast receiver loaded by the bare aiohttp client.

Same body (~500 bytes), same headers and per-request HMAC signature as Hookline, and the same
number of requests in flight as Hookline allows to one endpoint (its per-endpoint cap, read
from Hookline's own settings so that the two stay the same). The client runs in its own process,
like Hookline. Rate = receipts after the first over the receipt window.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.harness import ROOT, BenchError, Receiver
from bench.model import Context, Figure

SCENARIO = 1
TITLE = "Ceiling: bare aiohttp client -> fast receiver"
EVENTS = 20_000
FALLBACK_CONCURRENCY = 64


def hookline_concurrency() -> int:
    """Requests Hookline keeps in flight to one endpoint (one worker process)."""
    try:
        from hookline.config import Settings
        from hookline.runtime import engine_config

        config = engine_config(Settings())
        return int(min(config.concurrency, config.per_endpoint))
    except Exception:  # the knob moved: say so in the table, use the value of issue 6's time
        return FALLBACK_CONCURRENCY


def one_run(ctx: Context, receiver: Receiver, n: int, concurrency: int) -> float:
    """One run of the bare client against ``receiver``: deliveries/s (receipts after the
    first over the receipt window)."""
    receiver.window()
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", receiver.url(), str(n), str(concurrency)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=ctx.budget.limit(120),
        check=False,
    )
    if done.returncode:
        raise BenchError(f"loadgen failed: {done.stderr.strip()[-300:]}")
    report = json.loads(done.stdout)
    if report["errors"]:
        raise BenchError(f"loadgen: {report['errors']} errors of {n}")
    stats = receiver.wait_count(n, 10, "ceiling")
    return float((stats["count"] - 1) / (stats["last"] - stats["first"]))


def run(ctx: Context) -> None:
    n = ctx.n(EVENTS, 1000)
    concurrency = hookline_concurrency()
    with ctx.processes(SCENARIO, "s1") as procs:
        receiver, _ = procs.receiver()
        rates = [one_run(ctx, receiver, n, concurrency) for _ in range(ctx.runs)]
    ctx.add(Figure(SCENARIO, "deliveries/s", "/s", rates))
    ctx.note(
        SCENARIO, f"{n:,} requests a run, {concurrency} in flight (Hookline's cap per endpoint)"
    )
