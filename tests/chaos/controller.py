"""The controller: injects faults on a seeded schedule and journals each one with the moment
it started and the moment it was lifted (``start``/``end``, wall-clock seconds).

Fault kinds (``KINDS``) and what each does:

- ``kill_serve``/``kill_api``/``kill_worker``: SIGKILL, a pause, then a fresh process.
- ``term_serve``/``term_worker``: SIGTERM (a graceful stop must exit 0), then a fresh process.
- ``stop_serve``/``stop_worker``: SIGSTOP for longer than a lease, then SIGCONT.
- ``kill_engine``/``stop_engine``: the same to ``serve``'s delivery process (its child), which
  ``serve`` starts again after a kill.
- ``sqlite_lock``: another connection holds the database under an exclusive lock for seconds.
- ``pg_restart``: the private PostgreSQL restarted with ``-m immediate`` (crash recovery).
- ``pg_blackhole``/``pg_drop``: the proxy in front of PostgreSQL stalls / resets connections.
- ``sink_blackhole``/``sink_drop``: the same in front of the receiver.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.pgcluster import Cluster
from tests.chaos.records import Journal
from tests.chaos.stack import LEASE, Stack
from tests.docs.processes import delivery_processes

SQLITE_KINDS = (
    "kill_serve", "term_serve", "stop_serve", "sqlite_lock", "sink_drop", "sink_blackhole",
)  # fmt: skip
# serve with its delivery process (HOOKLINE_ENGINE_PROCESS): the same, and faults of the child.
SPLIT_KINDS = (*SQLITE_KINDS, "kill_engine", "stop_engine")
POSTGRES_KINDS = (
    "kill_worker", "kill_api", "term_worker", "stop_worker", "pg_restart", "pg_blackhole",
    "pg_drop", "sink_drop", "sink_blackhole",
)  # fmt: skip
# A graceful stop finishes what is in flight: it must never explain a duplicate.
EXPLAINS_DUPLICATES = frozenset(set(SPLIT_KINDS) | set(POSTGRES_KINDS)) - {
    "term_serve",
    "term_worker",
}


def engine_child(serve: int) -> int:
    """The pid of ``serve``'s delivery process (waiting up to 30 s for one)."""
    deadline = time.monotonic() + 30
    while not (found := delivery_processes(serve)):
        if time.monotonic() >= deadline:
            raise RuntimeError(f"serve {serve} has no delivery process")
        time.sleep(0.1)
    return found[0]


async def set_proxy(port: int, mode: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(mode.encode() + b"\n")
    await writer.drain()
    answer = await reader.readline()
    writer.close()
    if answer.strip() != b"ok":
        raise RuntimeError(f"proxy {port} refused mode {mode}: {answer!r}")


def hold_exclusive_lock(path: Path, seconds: float) -> None:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@dataclass
class Controller:
    stack: Stack
    journal: Journal
    rng: random.Random
    sink_control: int
    pg_control: int | None = None
    cluster: Cluster | None = None
    sqlite_path: Path | None = None
    lock: tuple[float, float] = (2.0, 6.0)
    problems: list[str] = field(default_factory=list)

    async def inject(self, kind: str) -> None:
        """Inject one fault, lift it, journal it."""
        action: Callable[[], Awaitable[str]] = getattr(self, "_" + kind)
        started = time.time()
        target = await action()
        self.journal.append_now(
            {"kind": kind, "start": started, "end": time.time(), "target": target}
        )

    async def run(self, kinds: tuple[str, ...], seconds: float, gap: tuple[float, float]) -> int:
        """Faults for ``seconds``, every kind at least once per round, in a seeded order."""
        deadline = time.monotonic() + seconds
        injected = 0
        while time.monotonic() < deadline:
            round_ = list(kinds)
            self.rng.shuffle(round_)
            for kind in round_:
                if time.monotonic() >= deadline and injected >= len(kinds):
                    break
                await self.inject(kind)
                injected += 1
                await asyncio.sleep(self.rng.uniform(*gap))
        return injected

    def _pick(self, role: str) -> int:
        return self.rng.randrange(self.stack.roles[role])

    async def _restart(self, role: str, index: int) -> None:
        self.stack.start(role, index)
        await asyncio.to_thread(self.stack.wait_started, role, index)
        if role in ("serve", "api"):
            await asyncio.to_thread(self.stack.wait_ready)

    async def _kill(self, role: str) -> str:
        index = self._pick(role)
        self.stack.kill(role, index)
        await asyncio.sleep(self.rng.uniform(0.2, 1.5))
        await self._restart(role, index)
        return f"{role}{index}"

    async def _term(self, role: str) -> str:
        index = self._pick(role)
        code = await asyncio.to_thread(self.stack.terminate, role, index)
        if code != 0:
            self.problems.append(f"SIGTERM of {role}{index} exited {code}")
        await self._restart(role, index)
        return f"{role}{index}"

    async def _stop(self, role: str) -> str:
        index = self._pick(role)
        self.stack.signal(role, index, signal.SIGSTOP)
        await asyncio.sleep(LEASE + self.rng.uniform(1.0, 3.0))  # past the lease
        self.stack.signal(role, index, signal.SIGCONT)
        return f"{role}{index}"

    async def _kill_serve(self) -> str:
        return await self._kill("serve")

    async def _kill_api(self) -> str:
        return await self._kill("api")

    async def _kill_worker(self) -> str:
        return await self._kill("worker")

    async def _term_serve(self) -> str:
        return await self._term("serve")

    async def _term_worker(self) -> str:
        return await self._term("worker")

    async def _stop_serve(self) -> str:
        return await self._stop("serve")

    async def _stop_worker(self) -> str:
        return await self._stop("worker")

    async def _kill_engine(self) -> str:
        serve = self.stack.proc("serve").process.pid
        child = await asyncio.to_thread(engine_child, serve)
        os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while await asyncio.to_thread(delivery_processes, serve) in ([], [child]):
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not start a new delivery process")
            await asyncio.sleep(0.1)
        return f"engine {child}"

    async def _stop_engine(self) -> str:
        child = await asyncio.to_thread(engine_child, self.stack.proc("serve").process.pid)
        os.kill(child, signal.SIGSTOP)
        await asyncio.sleep(LEASE + self.rng.uniform(1.0, 3.0))  # past the lease
        os.kill(child, signal.SIGCONT)
        return f"engine {child}"

    async def _sqlite_lock(self) -> str:
        assert self.sqlite_path is not None
        seconds = self.rng.uniform(*self.lock)
        await asyncio.to_thread(hold_exclusive_lock, self.sqlite_path, seconds)
        return f"{seconds:.1f}s"

    async def _pg_restart(self) -> str:
        assert self.cluster is not None
        await asyncio.to_thread(self.cluster.restart)
        return "immediate"

    async def _proxy_fault(self, port: int, mode: str, low: float, high: float) -> str:
        seconds = self.rng.uniform(low, high)
        await set_proxy(port, mode)
        await asyncio.sleep(seconds)
        await set_proxy(port, "normal")
        return f"{seconds:.1f}s"

    async def _pg_blackhole(self) -> str:
        assert self.pg_control is not None
        return await self._proxy_fault(self.pg_control, "blackhole", 2.0, 6.0)

    async def _pg_drop(self) -> str:
        assert self.pg_control is not None
        return await self._proxy_fault(self.pg_control, "drop", 0.3, 2.0)

    async def _sink_blackhole(self) -> str:
        return await self._proxy_fault(self.sink_control, "blackhole", 1.0, 4.0)

    async def _sink_drop(self) -> str:
        return await self._proxy_fault(self.sink_control, "drop", 0.3, 1.5)
