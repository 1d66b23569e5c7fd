"""The Hookline benchmark: ``make bench`` (or ``python -m bench``) runs every scenario of issue 6.

    python -m bench [--budget 540] [--runs 3] [--scale 1.0] [--only 1,2,...]

Each scenario starts what it needs on loopback (the fast receiver, Hookline, wrk, a Celery
worker), runs ``--runs`` times, and stops everything it started. Scenarios run in order while
the time budget lasts (a scenario that would not fit is skipped, and says so); the backlog
scenario runs last and sizes itself to what is left. At the end the table is printed and
written to ``bench/results/latest.json`` and ``docs/benchmarks.md``. ``--scale`` below 1 makes
every count smaller (for trying the harness; do not publish such a run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType, ModuleType

from bench import harness, report
from bench.harness import ROOT, BenchError, Budget
from bench.model import Context
from bench.scenarios import backlog, ceiling, delivery, fanout, ingest, isolation, latency, peer

# (scenario, module, entry point, seconds it needs at scale 1 on the reference machine)
PLAN: list[tuple[int, ModuleType, Callable[[Context], None], float]] = [
    (1, ceiling, ceiling.run, 15),
    (2, delivery, delivery.run_sqlite, 85),
    (3, delivery, delivery.run_postgres, 55),
    (4, ingest, ingest.run, 105),
    (5, latency, latency.run, 45),
    (6, fanout, fanout.run, 40),
    (7, isolation, isolation.run, 80),
    (9, peer, peer.run, 90),
    (8, backlog, backlog.run, 90),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for all scenarios")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (at least 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="event counts x this")
    parser.add_argument("--only", default="", help="comma-separated scenario numbers")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return parser.parse_args()


def _terminated(signum: int, frame: FrameType | None) -> None:
    harness.GRACE["seconds"] = 2.0  # `timeout` kills us 20 s after its SIGTERM
    raise SystemExit(128 + signum)  # unwinds every `with Processes(...)`: all children stop


def main() -> int:
    signal.signal(signal.SIGTERM, _terminated)
    args = parse_args()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    workdir = Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    ctx = Context(Budget(args.budget), workdir, runs=args.runs, scale=args.scale)
    info = report.machine(harness.snapshot_source(workdir))
    started = time.monotonic()
    reserved = PLAN[-1][3] * args.scale  # the backlog's minimum, kept for it
    try:
        for number, module, entry, needs in PLAN:
            if only and number not in only:
                continue
            want = needs * args.scale + (0 if module is backlog else reserved)
            if ctx.budget.remaining() < want:
                ctx.note(number, f"skipped: {ctx.budget.remaining():.0f} s of budget left")
                continue
            print(
                f"[{time.monotonic() - started:5.0f} s] scenario {number}: {report.TITLES[number]}",
                flush=True,
            )
            os.sync()  # what the last scenario left to write goes to disk before this one

            try:
                entry(ctx)
            except BenchError as exc:
                ctx.note(number, f"FAILED: {exc}")
            except Exception as exc:
                traceback.print_exc()
                ctx.note(number, f"FAILED: {type(exc).__name__}: {exc}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    for number, counts in sorted(ctx.logged.items()):
        for kind, count in counts.most_common(3):
            ctx.note(number, f"Hookline logged {count} x `{kind}`")
    extra = {
        "duration_s": time.monotonic() - started,
        "budget_s": args.budget,
        "scale": args.scale,
        "runs": args.runs,
        "load_average_at_end": Path("/proc/loadavg").read_text().split()[:3],
    }
    print()
    print(report.text_table(ctx))
    print()
    for k in sorted(ctx.notes):
        for line in ctx.notes[k]:
            print(f"  {k}. {line}")
    report.write_json(ctx, info, ROOT / "bench" / "results" / "latest.json", extra)
    if not only and args.scale == 1.0:
        modules = [ceiling, delivery, ingest, latency, fanout, isolation, backlog, peer]
        report.write_markdown(ctx, info, ROOT / "docs" / "benchmarks.md", extra, modules)
        print("\nwritten: bench/results/latest.json, docs/benchmarks.md")
    else:
        print("\nwritten: bench/results/latest.json (partial or scaled run: docs untouched)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
