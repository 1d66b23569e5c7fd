"""Whole Hookline processes (``serve``, ``api``, ``worker``) against real loopback receivers.

``processes.start("serve", env=...)`` runs ``python -m hookline serve`` with a controlled
environment; every process still running at teardown is killed. Receivers come from
``tests/delivery/conftest.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.delivery.conftest import Receiver, receiver, receivers  # noqa: F401 (fixtures)

ADMIN_KEY = "e2e-admin-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        HOOKLINE_DATABASE_URL=database_url,
        HOOKLINE_ADMIN_KEY=ADMIN_KEY,
        HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8",
        HOOKLINE_SECRET_KEY="e2e-secret-key-" + "x" * 32,
        HOOKLINE_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


class Processes:
    """Starts Hookline processes and cleans up after them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{command}-{len(self.started)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "hookline", command],
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.workdir.glob("*.log")))

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        proc.send_signal(sig)
        return proc.wait(20)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        for proc in procs.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


class Api:
    """A tiny synchronous client (run in a thread so the test's receivers keep serving)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        req.add_header("Authorization", f"Bearer {ADMIN_KEY}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    async def acall(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await asyncio.to_thread(self.call, method, path, body)

    async def ready(self, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                status, _ = await self.acall("GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.base} did not come up")

    async def webhook(self, url: str) -> str:
        status, body = await self.acall(
            "POST",
            "/api/internal/webhooks",
            {"name": "e2e", "url": url, "events": ["ReportPublished"], "secret": "e2e-secret"},
        )
        assert status == 201, body
        return str(body["id"])

    async def publish(self, count: int, batch: int = 500) -> list[str]:
        ids: list[str] = []
        for offset in range(0, count, batch):
            items = [
                {"event": "ReportPublished", "data": {"seq": offset + i}}
                for i in range(min(batch, count - offset))
            ]
            status, body = await self.acall("POST", "/api/internal/events/batch", {"events": items})
            assert status == 202, body
            ids.extend(r["id"] for r in body["data"])
        return ids


def received_events(target: Receiver) -> list[str]:
    return [json.loads(r.body)["id"] for r in target.requests]


async def wait_until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
