"""End to end: ``hookline serve`` as a real process on a free port and a fresh SQLite file."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
ADMIN_KEY_LINE = re.compile(r"Admin API key .*: (hk_[A-Za-z0-9_-]+)\s*$", re.MULTILINE)
WEBHOOK = {"name": "local", "url": "http://127.0.0.1:9/hook", "events": ["ReportPublished"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Running:
    """A started ``hookline serve``: where it answers and what it printed so far."""

    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=5, trust_env=False)

    def stop(self) -> int:
        """SIGTERM, then the exit code (which must come within STOP_TIMEOUT)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def serving(env: dict[str, str], tmp_path: Path, name: str) -> Iterator[Running]:
    """Start ``hookline serve``, wait until /healthz answers 200, kill it whatever happens."""
    port = free_port()
    log = tmp_path / f"{name}.log"
    full_env = {**env, "HOOKLINE_PORT": str(port)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "hookline", "serve"],
            env=full_env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Running(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_healthy(running)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _wait_healthy(running: Running) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with running.client() as client:
        while time.monotonic() < deadline:
            if running.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{running.output()}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise AssertionError(
        f"serve did not answer /healthz in {STARTUP_TIMEOUT}s:\n{running.output()}"
    )


def test_serve_bootstraps_a_key_serves_the_api_and_stops_on_sigterm(cli_env, tmp_path):
    cli_env.pop("HOOKLINE_ADMIN_KEY", None)

    # First start on a brand-new database: one admin key is printed, once.
    with serving(cli_env, tmp_path, "first") as first:
        keys = ADMIN_KEY_LINE.findall(first.output())
        assert len(keys) == 1, first.output()
        admin_key = keys[0]
        with first.client(admin_key) as api:
            events = api.get("/api/internal/webhookevents")
            assert events.status_code == 200
            names = {item["name"] for item in events.json()["data"]}
            assert {"ReportPublished", "AssessmentSubmitted", "EngagementRequested"} <= names
            refused = api.post("/api/internal/webhooks", json=WEBHOOK)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == "url_not_allowed"
        with first.client() as anonymous:
            assert anonymous.get("/api/internal/webhookevents").status_code == 401
        assert first.stop() == 0
    assert "Traceback" not in first.output()

    key_file = tmp_path / "hookline.key"
    assert key_file.exists()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

    # Restart on the same database: no new key; the old one works; loopback now allowed.
    allowed = {**cli_env, "HOOKLINE_ALLOWED_NETWORKS": "127.0.0.0/8"}
    with serving(allowed, tmp_path, "second") as second:
        assert "hk_" not in second.output()
        with second.client(admin_key) as api:
            created = api.post("/api/internal/webhooks", json=WEBHOOK)
            assert created.status_code == 201, created.text
            assert created.json()["url"] == WEBHOOK["url"]
        assert second.stop() == 0

    # HOOKLINE_ADMIN_KEY: that exact key exists and works.
    with_key = {**cli_env, "HOOKLINE_ADMIN_KEY": "some-admin-key-value"}
    with serving(with_key, tmp_path, "third") as third:
        with third.client("some-admin-key-value") as api:
            assert api.get("/api/internal/webhookevents").status_code == 200
            assert api.get("/api/internal/webhooks").status_code == 200
        with third.client("some-other-key-value") as wrong:
            assert wrong.get("/api/internal/webhookevents").status_code == 401
        started = time.monotonic()
        assert third.stop() == 0
        assert time.monotonic() - started < 5
    assert "some-admin-key-value" not in third.output()
