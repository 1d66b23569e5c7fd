"""Instructions per delivery, counted by callgrind: a measure the machine's noise does not move.

    python -m bench.instructions [--events 2000] [--phase drain|publish]

Wall-clock figures on a shared 2-core machine move by a third within minutes; instruction
counts of the same build repeat within ~1 %. This runs ``hookline serve`` (SQLite) under
``valgrind --tool=callgrind`` with its delivery engine held back, publishes ``--events``
events (batches of 500) to one webhook on the fast receiver, and counts one phase:

* ``drain`` (default): counters zeroed once everything is published, then the engine is let
  go and the counts are taken when the receiver has every delivery;
* ``publish``: the counts of publishing alone (the engine starts afterwards).

Prints instructions per delivery (or event) for each thread of ``serve`` that ran: the event
loop (``MainThread``) and the SQLite thread. Compare two builds by running this on each; a
difference under ~1 % is noise. Needs valgrind (Debian's package). Takes ~30 s for 2,000.

The engine is held back by a ``sitecustomize`` module put on ``PYTHONPATH`` for ``serve``
only: it makes ``Engine.run`` wait for a file to appear. Nothing of it is in Hookline.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import BenchError, Processes, free_port, hookline_env
from bench.hookapi import create_webhooks, publish
from bench.hookapi import run as run_async

_GATE = """
import asyncio, os
from hookline.delivery import engine as _engine

_run = _engine.Engine.run

async def _gated(self):
    while not os.path.exists(os.environ["HOOKLINE_BENCH_GATE"]):
        await asyncio.sleep(0.05)
    await _run(self)

_engine.Engine.run = _gated
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--phase", choices=("drain", "publish"), default="drain")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("bench.instructions: needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hookline-instructions-"))
    try:
        counts = measure(work, args.events, args.phase)
    except (BenchError, subprocess.CalledProcessError, OSError) as exc:
        print(f"bench.instructions: {exc} (logs in {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    unit = "delivery" if args.phase == "drain" else "event"
    print(f"{args.phase}, {args.events:,} events to one webhook:")
    for thread, total in counts.items():
        print(f"  {thread:10s} {total / 1e6:9.1f} M  {total / args.events / 1e3:8.1f} K per {unit}")
    return 0


def measure(work: Path, events: int, phase: str) -> dict[str, int]:
    """Callgrind's instruction counts of the phase, per thread that ran."""
    gate = work / "go"
    (work / "gate").mkdir()
    (work / "gate" / "sitecustomize.py").write_text(_GATE)
    port = free_port()
    env = hookline_env(f"sqlite:///{work}/hookline.db", port, HOOKLINE_BENCH_GATE=str(gate))
    env["PYTHONPATH"] = os.pathsep.join(
        [str(work / "gate"), *filter(None, [env.get("PYTHONPATH")])]
    )
    out = work / "callgrind.out"
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--instr-atstart=no",
        "--separate-threads=yes",
        sys.executable,
        "-m",
        "hookline",
        "serve",
    ]
    with Processes(work) as procs:
        receiver, _ = procs.receiver()
        serve = procs.start("serve", argv, env)
        base = f"http://127.0.0.1:{port}"
        procs.wait_http(base + "/healthz", serve, "serve", seconds=300)
        run_async(create_webhooks(base, [receiver.url()]))

        def control(*option: str) -> None:
            subprocess.run(
                ["callgrind_control", *option, str(serve.pid)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        if phase == "drain":
            run_async(publish(base, events))
        control("--instr=on")
        time.sleep(2)  # let the instrumented code settle before counting
        control("--zero")
        if phase == "publish":
            run_async(publish(base, events))
            control("--dump")
        gate.touch()
        receiver.wait_count(events, 600, "instructions")
        if phase == "drain":
            control("--dump")
        procs.stop(serve)
    return _totals(out)


def _totals(out: Path) -> dict[str, int]:
    """Instructions per thread of the dump taken (files ``<out>.1-NN``; thread 1 is the event
    loop, 2 the SQLite thread, which starts next)."""
    names = {1: "MainThread", 2: "sqlite"}
    counts: dict[str, int] = {}
    for path in sorted(glob.glob(f"{out}.1-*")):
        thread = int(path.rsplit("-", 1)[1])
        with open(path) as dump:
            for line in dump:
                if line.startswith(("totals:", "summary:")):
                    total = int(line.split()[1])
                    if total > 1_000_000:  # threads that did something in the phase
                        counts[names.get(thread, f"thread {thread}")] = total
                    break
    if not counts:
        raise BenchError(f"no callgrind dump found at {out}.1-*")
    return counts


if __name__ == "__main__":
    raise SystemExit(main())
