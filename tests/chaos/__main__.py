"""``python -m tests.chaos [--long] [--seed N] [--store sqlite|sqlite-split|postgres|both]
[--write-doc]``: run the fault-injection scenario, print the figures, exit 1 if an invariant
broke."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from tests.chaos import pgcluster, report, scenario


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos")
    parser.add_argument("--long", action="store_true", help="the long run (make chaos)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--store", choices=("sqlite", "sqlite-split", "postgres", "both"), default="both"
    )
    parser.add_argument("--write-doc", action="store_true", help="write docs/reliability.md")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    profile = scenario.LONG if args.long else scenario.SMOKE
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    if "postgres" in stores and (why := pgcluster.missing()):
        print(f"chaos: PostgreSQL part skipped: {why}", file=sys.stderr)
        stores.remove("postgres")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hookline-chaos-"))
    results = []
    for store in stores:
        print(f"chaos: {store}, seed {args.seed}, {profile} in {workdir / store}", flush=True)
        results.append(asyncio.run(scenario.run(store, profile, args.seed, workdir / store)))
    print(report.table(results))
    for result in results:
        for line in result.verdict.violations + result.problems:
            print(f"chaos: {result.store}: {line}", file=sys.stderr)
    if args.write_doc:
        command = "python -m tests.chaos" + (" --long" if args.long else "")
        report.write_doc(results, args.seed, f"{command} --seed {args.seed} --write-doc")
        print(f"chaos: wrote {report.DOC}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
