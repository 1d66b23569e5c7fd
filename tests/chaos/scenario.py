"""One store, end to end: start everything, publish, inject faults, stop faults, drain, stop
Hookline gracefully, read the store, check. Every process started here is stopped here.

Timeline: ``calm`` seconds of load without faults (the baseline throughput), ``faults``
seconds of seeded faults (every kind at least once), then the producer finishes without
faults and the backlog must drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.chaos import dbstate, records
from tests.chaos.checker import Verdict, check
from tests.chaos.controller import POSTGRES_KINDS, SPLIT_KINDS, SQLITE_KINDS, Controller

__all__ = [
    "LONG", "POSTGRES_KINDS", "SMOKE", "SPLIT_KINDS", "SQLITE_KINDS", "Profile", "Result", "run",
]  # fmt: skip
from tests.chaos.pgcluster import Cluster
from tests.chaos.plan import WEBHOOKS
from tests.chaos.stack import DELIVERY_TIMEOUT, MAX_RETRIES, Stack
from tests.docs.processes import ADMIN_KEY, ROOT, Spawned, clean_env, free_port

SECRET = "chaos-webhook-secret"


@dataclass(frozen=True)
class Profile:
    events: int
    rate: float  # events published per second
    calm: float  # seconds of load before the first fault
    faults: float  # seconds of faults (the first round of kinds always completes)
    gap: tuple[float, float]  # seconds between two faults
    drain: float = 120.0  # seconds the backlog gets to drain after load and faults end
    # seconds an SQLite exclusive lock is held; past Hookline's 10 s busy timeout, writes fail
    lock: tuple[float, float] = (2.0, 6.0)


SMOKE = Profile(events=2500, rate=60, calm=5, faults=20, gap=(0.5, 1.5), drain=90)
LONG = Profile(
    events=20000, rate=120, calm=20, faults=150, gap=(1.0, 3.0), drain=180, lock=(2.0, 14.0)
)


@dataclass
class Result:
    store: str
    seed: int
    verdict: Verdict
    faults: list[dict[str, Any]]
    receipts: list[dict[str, Any]]
    published: list[dict[str, Any]]
    marks: dict[str, float]
    problems: list[str] = field(default_factory=list)
    error_logs: int = 0  # ERROR lines in Hookline's output (unexpected errors, tracebacks)

    @property
    def ok(self) -> bool:
        return not self.verdict.violations and not self.problems


def python_module(module: str, *args: str, cwd: Path, name: str) -> Spawned:
    argv = [sys.executable, "-m", module, *args]
    return Spawned.start(argv, clean_env(PYTHONPATH=str(ROOT)), cwd, name)


async def wait_drained(base: str, seconds: float) -> bool:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    deadline = time.monotonic() + seconds
    # Two idle looks in a row: the two statuses are read one after the other, so a delivery
    # that moves between them (delivering -> pending when a retry is scheduled, just after the
    # "pending" read) is missed by one look, never by two 0.5 s apart.
    idle_looks = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
        while time.monotonic() < deadline:
            busy = False
            for status in ("pending", "delivering"):
                try:
                    page = await client.get(f"/api/internal/deliveries?status={status}&limit=1")
                    busy = busy or page.status_code != 200 or bool(page.json()["data"])
                except httpx.HTTPError:
                    busy = True
            idle_looks = 0 if busy else idle_looks + 1
            if idle_looks >= 2:
                return True
            await asyncio.sleep(0.5)
    return False


async def create_webhooks(base: str, sink_port: int) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
        for name, cuids in WEBHOOKS.items():
            body = {
                "name": name,
                "url": f"http://127.0.0.1:{sink_port}/{name}",
                "events": ["ReportPublished"],
                "clientCuids": cuids,
                "secret": SECRET,
            }
            answer = await client.post("/api/internal/webhooks", json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"creating webhook {name}: {answer.text}")


async def run(store: str, profile: Profile, seed: int, workdir: Path) -> Result:
    """Run one store's scenario in ``workdir`` (journals and process output stay there)."""
    workdir.mkdir(parents=True, exist_ok=True)
    helpers: list[Spawned] = []
    cluster: Cluster | None = None
    stack: Stack | None = None
    try:
        sink_port, sink_proxy, sink_control = free_port(), free_port(), free_port()
        helpers.append(python_module(
            "tests.chaos.sink", "--port", str(sink_port), "--journal", str(workdir / "sink.jsonl"),
            "--secret", SECRET, "--timeout", str(DELIVERY_TIMEOUT), cwd=workdir, name="sink",
        ))  # fmt: skip
        helpers.append(python_module(
            "tests.chaos.proxy", "--listen", str(sink_proxy), "--target", str(sink_port),
            "--control", str(sink_control), cwd=workdir, name="sink-proxy",
        ))  # fmt: skip
        controller_args: dict[str, Any] = {}
        if store.startswith("sqlite"):  # "sqlite", or "sqlite-split": serve + delivery process
            db_path = workdir / "hookline.db"
            split = store == "sqlite-split"
            stack = Stack(workdir, f"sqlite:///{db_path}", sqlite=True, engine_process=split)
            controller_args.update(sqlite_path=db_path, lock=profile.lock)
            kinds = SPLIT_KINDS if split else SQLITE_KINDS
        else:
            cluster = Cluster(free_port())
            await asyncio.to_thread(cluster.start)
            pg_proxy, pg_control = free_port(), free_port()
            helpers.append(python_module(
                "tests.chaos.proxy", "--listen", str(pg_proxy), "--target", str(cluster.port),
                "--control", str(pg_control), cwd=workdir, name="pg-proxy",
            ))  # fmt: skip
            stack = Stack(workdir, cluster.url(pg_proxy), sqlite=False)
            await asyncio.to_thread(stack.migrate, cluster.url())
            controller_args.update(pg_control=pg_control, cluster=cluster)
            kinds = POSTGRES_KINDS
        await asyncio.to_thread(stack.start_all)
        await create_webhooks(stack.base, sink_proxy)
        for helper in helpers:
            helper.alive()

        fault_log = records.Journal(workdir / "faults.jsonl")
        controller = Controller(
            stack, fault_log, random.Random(seed), sink_control, **controller_args
        )
        marks = {"start": time.time()}
        producer = python_module(
            "tests.chaos.producer", "--base", stack.base, "--key", ADMIN_KEY,
            "--run", f"{store}-{seed}", "--count", str(profile.events), "--rate",
            str(profile.rate), "--journal", str(workdir / "published.jsonl"),
            cwd=workdir, name="producer",
        )  # fmt: skip
        helpers.append(producer)
        await asyncio.sleep(profile.calm)
        marks["faults_start"] = time.time()
        await controller.run(kinds, profile.faults, profile.gap)
        marks["faults_end"] = time.time()
        fault_log.close()
        producer_budget = profile.events / profile.rate + profile.drain
        while producer.process.poll() is None and time.time() - marks["start"] < producer_budget:
            await asyncio.sleep(0.2)
        problems = list(controller.problems)
        if producer.process.poll() is None:
            problems.append("the producer did not finish in time")
        elif producer.process.returncode != 0:
            problems.append(f"the producer failed: {producer.output()[-2000:]}")
        marks["load_end"] = time.time()
        if not await wait_drained(stack.base, profile.drain):
            problems.append(f"backlog not drained {profile.drain}s after load and faults ended")
        marks["drained"] = time.time()
        await asyncio.sleep(0.5)  # the sink's last answers
        codes = await asyncio.to_thread(stack.stop_all)
        problems += [
            f"graceful stop of {name} exited {code}" for name, code in codes.items() if code
        ]
        if store.startswith("sqlite"):
            db = await asyncio.to_thread(dbstate.read_sqlite, workdir / "hookline.db")
        else:
            assert cluster is not None
            db = await asyncio.to_thread(dbstate.read_postgres, cluster.url())
        published = records.read(workdir / "published.jsonl")
        receipts = records.read(workdir / "sink.jsonl")
        faults = records.read(workdir / "faults.jsonl")
        verdict = check(published, receipts, faults, db, 1 + MAX_RETRIES)
        verdict.figures["integrity_checks"] = db.integrity_checks
        result = Result(store, seed, verdict, faults, receipts, published, marks, problems)
        result.error_logs = stack.error_lines()
        return result
    finally:
        if stack is not None:
            for proc in stack.procs.values():
                with contextlib.suppress(Exception):
                    proc.process.kill()
                    proc.process.wait(10)
        for helper in helpers:
            with contextlib.suppress(Exception):
                helper.stop()
        if cluster is not None:
            await asyncio.to_thread(cluster.stop)
