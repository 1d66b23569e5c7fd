"""Scenario 4, ingest: how many events a second ``hookline serve`` (SQLite) accepts.

Each event fans out to one webhook on the fast receiver, so the engine delivers while the API
ingests (both share the process, as in production; while publishers press, the engine claims
one delivery per 4 publish requests answered, see ``hookline.delivery.pressure``, and catches
up after: both loads press, the batches as four at once hold 2,000 events).
Two loads, each run on a fresh deployment:

* single events: ``wrk`` (Debian's, in C) at 64 connections for ~10 s, ``POST /api/internal/events``
  with the bearer key and a ~500-byte event; events/s counts 202 answers only; the deliveries
  the receiver got during the run are reported beside it (no target: the price of the figure);
* batches of 500: a Python client with 4 requests in flight for ~3 s, sending one body encoded
  once (as wrk does); events/s = 500 x 202s/s.

Both loads run again on ``serve`` with its delivery process (``HOOKLINE_ENGINE_PROCESS=true``,
off by default): extra figures without a target, to show what that mode changes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time

from bench import stack
from bench.harness import ADMIN_KEY, BenchError, Processes
from bench.hookapi import EVENT, HEADERS, create_webhooks, event_data, session
from bench.hookapi import run as run_async
from bench.model import Context, Figure, Target

SCENARIO = 4
WRK_SECONDS = 10
WRK_CONNECTIONS = 64
BATCH = 500
BATCH_SECONDS = 3
BATCH_LANES = 4

_LUA = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n@@{"requests":%%d,"duration_us":%%d,"non2xx":%%d,"errors":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


SPLIT = {"HOOKLINE_ENGINE_PROCESS": "true"}


def wrk_once(
    ctx: Context, procs: Processes, seconds: int, extra: dict[str, str] | None = None
) -> dict[str, float]:
    """One wrk run against a fresh ``serve``; answers events/s and wrk's own counts."""
    deployment = stack.serve_sqlite(procs, "ingest", **(extra or {}))
    receiver, _ = procs.receiver()
    run_async(create_webhooks(deployment.base, [receiver.url()]))
    script = procs.workdir / "publish.lua"
    body = json.dumps({"event": EVENT, "data": event_data(0)}, separators=(",", ":"))
    script.write_text(_LUA % {"body": body, "key": ADMIN_KEY})
    url = deployment.base + "/api/internal/events"
    argv = ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    done = subprocess.run(
        [*argv, "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("@@")), None)
    if done.returncode or line is None:
        raise BenchError(f"wrk failed: {done.stderr.strip()[-300:] or done.stdout[-300:]}")
    received = receiver.stats()["count"]  # delivered while wrk ran (and just after)
    report = json.loads(line[2:])
    accepted = report["requests"] - report["non2xx"] - report["errors"]
    seconds_run = report["duration_us"] / 1e6
    return {
        **report,
        "events_per_s": accepted / seconds_run,
        "delivered_per_s": received / seconds_run,
    }


async def _batches(base: str, seconds: float) -> tuple[int, float, list[int]]:
    items = [{"event": EVENT, "data": event_data(i)} for i in range(BATCH)]
    # Encoded once, as wrk sends one body: the generator shares the cores with Hookline, and
    # encoding ~190 KB per request cost it ~2.5 ms each time.
    body = json.dumps({"events": items}).encode()
    url = base + "/api/internal/events/batch"
    accepted = 0
    refused: list[int] = []
    async with session(BATCH_LANES) as http:

        async def lane(deadline: float) -> None:
            nonlocal accepted
            while time.monotonic() < deadline and accepted < 10_000:  # bounded in time and count
                async with http.post(url, data=body, headers=HEADERS) as response:
                    await response.read()
                    status = response.status
                if status == 202:
                    accepted += 1
                else:
                    refused.append(status)

        started = time.monotonic()
        await asyncio.gather(*(lane(started + seconds) for _ in range(BATCH_LANES)))
        return accepted, time.monotonic() - started, refused


def batch_once(procs: Processes, seconds: float, extra: dict[str, str] | None = None) -> float:
    deployment = stack.serve_sqlite(procs, "ingest-batch", **(extra or {}))
    receiver, _ = procs.receiver()
    run_async(create_webhooks(deployment.base, [receiver.url()]))
    accepted, elapsed, refused = run_async(_batches(deployment.base, seconds))
    if refused:
        raise BenchError(f"batch ingest: {len(refused)} refused ({sorted(set(refused))})")
    return BATCH * accepted / elapsed


def run(ctx: Context) -> None:
    seconds = max(2, round(WRK_SECONDS * min(1.0, ctx.scale * 2)))
    if shutil.which("wrk") is None:
        ctx.note(SCENARIO, "wrk is not installed (apt-get install wrk): single-event load skipped")
    else:
        reports = []
        for i in range(ctx.runs):
            with ctx.processes(SCENARIO, f"s4-wrk{i}") as procs:
                reports.append(wrk_once(ctx, procs, seconds))
        ctx.add(
            Figure(
                SCENARIO,
                "events/s, single (wrk, 64 connections)",
                "/s",
                [r["events_per_s"] for r in reports],
                Target(">=", 4500),
            )
        )
        ctx.add(
            Figure(
                SCENARIO,
                "deliveries/s during the single-event run",
                "/s",
                [r["delivered_per_s"] for r in reports],
            )
        )
        p99 = max(r["p99_us"] for r in reports) / 1000
        bad = sum(r["non2xx"] + r["errors"] for r in reports)
        ctx.note(
            SCENARIO,
            f"wrk {seconds} s a run; worst p99 answer {p99:.0f} ms; "
            f"{bad} non-202 answers or socket errors",
        )
    rates = []
    for i in range(ctx.runs):
        with ctx.processes(SCENARIO, f"s4-batch{i}") as procs:
            rates.append(batch_once(procs, BATCH_SECONDS * min(1.0, ctx.scale * 2)))
    ctx.add(
        Figure(
            SCENARIO,
            f"events/s, batches of {BATCH} ({BATCH_LANES} in flight)",
            "/s",
            rates,
            Target(">=", 50_000),
        )
    )
    _with_delivery_process(ctx, seconds)


def _with_delivery_process(ctx: Context, seconds: int) -> None:
    if shutil.which("wrk") is not None:
        singles = []
        for i in range(ctx.runs):
            with ctx.processes(SCENARIO, f"s4-wrk-split{i}") as procs:
                singles.append(wrk_once(ctx, procs, seconds, SPLIT)["events_per_s"])
        ctx.add(Figure(SCENARIO, "events/s, single, with the delivery process", "/s", singles))
    rates = []
    for i in range(ctx.runs):
        with ctx.processes(SCENARIO, f"s4-batch-split{i}") as procs:
            rates.append(batch_once(procs, BATCH_SECONDS * min(1.0, ctx.scale * 2), SPLIT))
    ctx.add(
        Figure(SCENARIO, f"events/s, batches of {BATCH}, with the delivery process", "/s", rates)
    )
