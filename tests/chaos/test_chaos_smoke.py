"""The CI run of the fault-injection suite: a few thousand events and every fault kind once,
on each store (``make chaos`` is the long run). A failure names the broken invariants; the
journals and every process's output stay in the test's temporary directory."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from tests.chaos import pgcluster, report, scenario

# sqlite-split: serve with its delivery process (HOOKLINE_ENGINE_PROCESS), and its faults.
STORES = ["sqlite", "sqlite-split", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("store", STORES)
def test_nothing_accepted_is_lost_under_faults(store: str, tmp_path: Path) -> None:
    if store == "postgres" and (why := pgcluster.missing()):
        message = f"chaos: no private PostgreSQL cluster: {why}"
        if os.environ.get("HOOKLINE_REQUIRE_POSTGRES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    result = asyncio.run(scenario.run(store, scenario.SMOKE, seed=7, workdir=tmp_path))
    print(report.table([result]))  # shown with -rA or on failure
    assert result.ok, "\n".join([*result.verdict.violations, *result.problems, str(tmp_path)])
    # The run exercised what it claims to: faults of every kind, retries, duplicates explained.
    kinds = {
        "sqlite": scenario.SQLITE_KINDS,
        "sqlite-split": scenario.SPLIT_KINDS,
        "postgres": scenario.POSTGRES_KINDS,
    }[store]
    assert {f["kind"] for f in result.faults} == set(kinds)
    assert result.verdict.figures["events"] == scenario.SMOKE.events
    assert {r["answer"] for r in result.receipts} >= {"200", "500", "429", "410", "reset", "hang"}
