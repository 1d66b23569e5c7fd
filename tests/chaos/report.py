"""Figures of a run (throughput with and without faults, recovery per fault kind, duplicates
by cause) as a table, and ``docs/reliability.md`` written from the latest long run.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.chaos.scenario import Result

LOOKBACK = 30.0  # seconds before a fault whose events count for its recovery
DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def rate(times: list[float], start: float, end: float) -> float:
    span = end - start
    return sum(1 for t in times if start <= t < end) / span if span > 0 else 0.0


def recovery(result: Result) -> dict[str, list[float]]:
    """Per fault kind, for each fault: seconds from its lifting until every event accepted
    up to then has been acknowledged at ``/ok`` (the backlog it caused is gone); 0 when
    nothing was left behind."""
    acked_ok: dict[str, float] = {}
    for r in result.receipts:
        if r["answer"] == "200" and r["path"] == "/ok" and r["event"] not in acked_ok:
            acked_ok[r["event"]] = r["t"]
    accepted = sorted((r["t"], r["event"]) for r in result.published if "event" in r)
    found: dict[str, list[float]] = defaultdict(list)
    for fault in result.faults:
        # Earlier events were caught up by earlier faults' measures; LOOKBACK covers the lease.
        window = [e for t, e in accepted if fault["start"] - LOOKBACK <= t <= fault["end"]]
        last = max((acked_ok.get(e, fault["end"]) for e in window), default=fault["end"])
        found[fault["kind"]].append(max(0.0, last - fault["end"]))
    return found


def figures(result: Result) -> dict[str, Any]:
    marks = result.marks
    first_ack: dict[str, float] = {}
    for r in result.receipts:
        if r["answer"] == "200" and r["delivery"] not in first_ack:
            first_ack[r["delivery"]] = r["t"]
    delivered = list(first_ack.values())
    accepted = [r["t"] for r in result.published if "event" in r]
    calm = (marks["start"] + 2, marks["faults_start"])
    faulty = (marks["faults_start"], marks["faults_end"])
    out = dict(result.verdict.figures)
    refused: Counter[str] = Counter()
    for r in result.published:
        refused.update(r.get("refused", {}))
    out.update(
        publish_503=refused["503"],
        publish_500=refused["500"],
        publish_conn_errors=refused["conn"],
        error_logs=result.error_logs,
        faults=len(result.faults),
        accepted_per_s_calm=rate(accepted, *calm),
        accepted_per_s_faults=rate(accepted, *faulty),
        delivered_per_s_calm=rate(delivered, *calm),
        delivered_per_s_faults=rate(delivered, *faulty),
        drain_s=marks["drained"] - marks["load_end"],
        duration_s=marks["drained"] - marks["start"],
    )
    return out


def table(results: list[Result]) -> str:
    rows: list[tuple[str, ...]] = []
    figs = [figures(r) for r in results]
    names = [r.store for r in results]
    for key in (
        "events", "deliveries", "receipts", "lost", "phantom", "unexplained", "duplicates",
        "faults", "publish_503", "publish_500", "publish_conn_errors", "error_logs",
        "accepted_per_s_calm", "accepted_per_s_faults", "delivered_per_s_calm",
        "delivered_per_s_faults", "drain_s", "duration_s",
    ):  # fmt: skip
        rows.append((key, *(fmt(f[key]) for f in figs)))
    causes = sorted({c for r in results for c in r.verdict.duplicates_by_cause})
    for cause in causes:
        rows.append(
            (f"duplicates: {cause}", *(str(r.verdict.duplicates_by_cause[cause]) for r in results))
        )
    kinds = sorted({f["kind"] for r in results for f in r.faults})
    recoveries = [recovery(r) for r in results]
    for kind in kinds:
        cells = []
        for result, rec in zip(results, recoveries, strict=True):
            values = rec.get(kind)
            lasted = [f["end"] - f["start"] for f in result.faults if f["kind"] == kind]
            cells.append(
                f"{len(lasted)}x, lasted {statistics.median(lasted):.1f} s; caught up "
                f"{statistics.median(values):.1f} s after (max {max(values):.1f})"
                if values and lasted else "-"
            )  # fmt: skip
        rows.append((f"recovery: {kind}", *cells))
    header = ("figure", *names)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def write_doc(results: list[Result], seed: int, command: str) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    machine = f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, load {load})"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    checks = "; ".join(f"{r.store}: {r.verdict.figures['integrity_checks']}" for r in results)
    verdicts = "\n".join(
        f"- {r.store}: " + ("all invariants hold" if r.ok else "FAILED: " + "; ".join(
            r.verdict.violations + r.problems))
        for r in results
    )  # fmt: skip
    DOC.write_text(
        TEMPLATE.format(
            command=command,
            seed=seed,
            commit=commit or "unknown",
            machine=machine,
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            table=table(results),
            verdicts=verdicts,
            checks=checks,
        )
    )


TEMPLATE = """# Reliability: the fault-injection run

Written by `{command}` (`make chaos`); do not edit by hand.
Seed {seed}, Hookline at {commit}, on {machine}, {date}.
The machine is shared with other work: throughput figures are indicative only.

Hookline promises that nothing it accepted (202) is lost. This run proves it under faults:
a producer publishes events (each with an `Idempotency-Key` and a sequence number) and
journals every 202 with fsync; a sink checks every signature and journals every receipt with
fsync before answering; a controller injects faults on a seeded schedule; an offline checker
compares the journals (and only then the database) when the backlog has drained. How it works
and how to read each figure: [tests/chaos/](../tests/chaos/__init__.py).

## Verdict

{verdicts}

## Figures

{table}

- **lost**: an expected delivery (event x subscribed webhook) the sink never acknowledged, or,
  for the always-failing endpoints (410, 500), never saw and the store did not mark failed.
- **phantom**: a receipt of no published event, at the wrong endpoint, or with a bad signature.
- **unexplained**: a second acknowledged receipt of a delivery with no fault (other than a
  graceful SIGTERM) under way between the previous acknowledgement and it.
- **duplicates: kind**: acknowledged again, explained by the earliest fault of that kind in
  the window. At-least-once delivery: receivers dedupe on `X-Hookline-Delivery`.
- **accepted/delivered per s**: events accepted and deliveries first acknowledged per second,
  before the first fault (calm) and while faults are injected. The producer offers a fixed
  rate, so calm figures equal the offered load when Hookline keeps up.
- **publish_503 / publish_500 / publish_conn_errors**: answers the producer got before its 202
  (it retries with the same key): 503 is the contract's answer while the store is unreachable;
  a 500 (internal error) during a database outage is a bug (see "Findings").
- **error_logs**: `ERROR` lines (tracebacks of unexpected errors) in Hookline's own output.
- **drain_s**: seconds from the end of load and faults until nothing is pending.
- **recovery**: how many faults of the kind; how long one lasted (median; from injection to
  the fault being lifted: process restarted and answering, process continued, server up, proxy
  back to normal); and how long after its lifting every event accepted until then (from 30 s
  before the fault) had been acknowledged at `/ok` (median and max): the time to clear the
  backlog the fault caused. Deliveries leased by a killed or stopped process wait for their
  lease to expire (delivery timeout + 5 s = 7 s here), which bounds this from below.

Integrity checks: {checks}.

## Findings

What the suite found in Hookline, and what became of it (each fix has its own regression test,
so the suite keeps the figures above at zero rather than explaining them away):

- **A delivery sent twice with no crash** (fixed in 901207d): the engine computed a claim's
  lease before calling the store; a claim that waited out a stall longer than the lease (an
  SQLite lock held 7-10 s, within the 10 s busy timeout; a PostgreSQL claim stalled by the
  blackholed proxy) came back with a lease already over, and the next claim sent the same
  deliveries again milliseconds later. The engine now gives such a claim back.
  `tests/chaos/test_stale_lease.py` (a 9 s lock: 16 deliveries were sent twice) and
  `tests/delivery/test_engine.py::test_a_claim_that_outlives_its_lease_is_given_back_not_sent`.
- **500 instead of 503 during a PostgreSQL outage** (fixed in b7f8560): after a restart, a
  pooled connection failed with asyncpg's `InternalClientError` and giving it back to the pool
  raised outside the error translation, so the API answered 500 `internal_error` and the engine
  logged tracebacks. Broken connections are now dropped from the pool, a failing release never
  hides the real outcome, and the error is "database unavailable".
  `tests/store/test_postgres.py::test_connections_killed_by_a_restart_are_unavailable_not_bugs`.
- **Outcomes dropped during an outage** (fixed in 901207d): the completer wrote a batch that
  failed with an unexpected error one outcome at a time, and dropped those that then failed
  with "database unavailable"; those deliveries were sent again when their leases expired
  (more duplicates than needed, none lost). They now wait for the next write.
- **Left as it is**: a `worker` (or `api`) started while the database is unreachable exits 1
  ("cannot reach PostgreSQL ... timed out") instead of waiting; the systemd units in deploy/
  restart it after 2 s. The controller waits for a restarted process's banner before the next
  fault.

## Faults

SQLite (`hookline serve`): SIGKILL of `serve` then restart; SIGTERM (must exit 0) then restart;
SIGSTOP past the lease then SIGCONT; an exclusive lock held by another connection for 2-14 s
(Hookline's SQLite busy timeout is 10 s);
the sink's connections reset or blackholed through the fault proxy.
PostgreSQL (`hookline api` + 2 `hookline worker`, a private 15 cluster behind the fault
proxy): SIGKILL of a worker and of the api; SIGTERM of a worker; SIGSTOP of a worker past its
lease then SIGCONT; `pg_ctl restart -m immediate`; the database port blackholed or its
connections reset; the same two faults in front of the sink. The sink itself answers 500, 429
with `Retry-After`, resets after reading the body, or hangs past the timeout on first attempts
(`/flaky`), 410 always (`/gone`) and 500 always (`/dead`).
"""
