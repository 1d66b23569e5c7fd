"""Hookline deployments for the scenarios: ``serve`` on SQLite, ``api`` + workers on PostgreSQL
(each on a fresh database of its own, dropped afterwards).

Each starts on free loopback ports with a controlled environment (no inherited HOOKLINE_*
variable) and answers the API's base URL once ``/healthz`` answers. The caller's
:class:`~bench.harness.Processes` stops them.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import BenchError, Processes, call, free_port, hookline_env

PG_ADMIN = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


@dataclass
class Deployment:
    """A running Hookline: the API's base URL and the processes that deliver."""

    base: str
    api: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    spawned: int = 0  # workers started so far (each gets its own log)


def serve_sqlite(procs: Processes, name: str, **extra: str) -> Deployment:
    """``hookline serve`` on a fresh SQLite file in the group's work directory."""
    port = free_port()
    path = Path(procs.workdir) / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = hookline_env(f"sqlite:///{path}", port, **extra)
    proc = procs.hookline("serve", env, name)
    base = f"http://127.0.0.1:{port}"
    procs.wait_http(base + "/healthz", proc, name)
    if extra.get("HOOKLINE_ENGINE_PROCESS") == "true":
        # Its delivery processes start after the API answers: wait for them, as scenario 3
        # waits for its workers, so that their start-up is not counted as delivery time.
        _wait_delivering(base, proc, name)
    return Deployment(base, proc, [proc], env)


def _wait_delivering(base: str, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode}")
        status, ready = call("GET", base + "/readyz", key=None)
        if status == 200 and ready.get("engine") == "running":
            return
        time.sleep(0.05)
    raise BenchError(f"{name}: its delivery processes did not start within 30 s")


def postgres(
    procs: Processes, database_url: str, name: str, workers: int = 2, **extra: str
) -> Deployment:
    """``hookline api`` (which migrates the empty database) and then ``workers`` workers."""
    port = free_port()
    env = hookline_env(database_url, port, **extra)
    api = procs.hookline("api", env, f"{name}-api")
    base = f"http://127.0.0.1:{port}"
    procs.wait_http(base + "/healthz", api, f"{name}-api")
    deployment = Deployment(base, api, [], env)
    start_workers(procs, deployment, name, workers)
    return deployment


def start_workers(procs: Processes, deployment: Deployment, name: str, count: int) -> None:
    """``count`` new ``hookline worker`` processes; returns once each has announced itself."""
    logs = [f"{name}-worker{deployment.spawned + i}" for i in range(count)]
    deployment.spawned += count
    started = [procs.hookline("worker", deployment.env, log) for log in logs]
    for log, worker in zip(logs, started, strict=True):
        procs.wait_log(log, "worker", worker)
    deployment.workers = started


# -- PostgreSQL ---------------------------------------------------------------------------------
def _psql(sql: str) -> None:
    args = ["psql", "-h", PG_ADMIN["host"], "-p", PG_ADMIN["port"], "-U", PG_ADMIN["user"]]
    done = subprocess.run(
        [*args, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode:
        raise BenchError(f"psql {sql!r}: {done.stderr.strip()}")


_databases = 0


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database ``hookline_bench_<pid>_<n>``, dropped afterwards."""
    global _databases
    _databases += 1
    name = f"hookline_bench_{os.getpid()}_{_databases}"
    _psql(f"DROP DATABASE IF EXISTS {name}")
    _psql(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://{PG_ADMIN['user']}@{PG_ADMIN['host']}:{PG_ADMIN['port']}/{name}"
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pg_count(database_url: str, sql: str) -> int:
    """One number from the benchmark's database (for checks only, never for the workload)."""
    name = database_url.rsplit("/", 1)[1]
    args = ["psql", "-h", PG_ADMIN["host"], "-p", PG_ADMIN["port"], "-U", PG_ADMIN["user"]]
    done = subprocess.run(
        [*args, "-d", name, "-tAc", sql], capture_output=True, text=True, timeout=60, check=False
    )
    return int(done.stdout.strip() or 0)
