"""A real ``hookline serve`` for the client tests, and a loopback receiver.

One server per test session (SQLite in a temporary directory, loopback allowed as a webhook
destination), with an admin, a viewer and a publisher key; ``live`` deletes every webhook
before each test so delivery counts are exact. The receiver is an ``http.server`` in a thread
that records every request and answers 200 ``ok``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ADMIN_KEY = "client-admin-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    """A running ``hookline serve``."""

    url: str
    admin_key: str
    viewer_key: str
    publisher_key: str
    env: dict[str, str]
    workdir: Path

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A raw admin call through urllib (independent of the client under test)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.admin_key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
                raw = answer.read()
                return answer.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read() or b"null")

    def delete_all_webhooks(self) -> None:
        while True:
            status, page = self.call("GET", "/api/internal/webhooks?limit=200")
            assert status == 200, page
            if not page["data"]:
                return
            for webhook in page["data"]:
                status, _ = self.call("DELETE", f"/api/internal/webhooks/{webhook['id']}")
                assert status == 204


def _hookline(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hookline", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("hookline-client")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        HOOKLINE_DATABASE_URL=f"sqlite:///{workdir / 'hookline.db'}",
        HOOKLINE_HOST="127.0.0.1",
        HOOKLINE_PORT=str(port),
        HOOKLINE_ADMIN_KEY=ADMIN_KEY,
        HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8",
        HOOKLINE_SECRET_KEY="client-tests-secret-key-" + "x" * 32,
        HOOKLINE_LOG_LEVEL="warning",
    )
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hookline", "serve"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"hookline serve exited: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"hookline serve did not come up: {log_path.read_text()}")
            time.sleep(0.05)
        viewer = _hookline(
            "key", "create", "--tenant", "default", "--role", "viewer", env=env, cwd=workdir
        )
        publisher = _hookline(
            "key", "create", "--tenant", "default", "--role", "publisher", env=env, cwd=workdir
        )
        yield Server(url, ADMIN_KEY, viewer, publisher, env, workdir)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def live(server: Server) -> Server:
    """The server, without any webhook left over from an earlier test."""
    server.delete_all_webhooks()
    return server


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, seconds: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} requests"
            time.sleep(0.02)
        return list(self.requests)


class _Handler(BaseHTTPRequestHandler):
    server: _ReceiverServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.receiver.requests.append(Received(self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[_ReceiverServer]:
    httpd = _ReceiverServer(("127.0.0.1", 0), _Handler)
    httpd.receiver = Receiver(f"http://127.0.0.1:{httpd.server_address[1]}/hook")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def receiver(receiver_server: _ReceiverServer) -> Receiver:
    """A fresh record of requests (the same listening socket for the whole session)."""
    receiver_server.receiver = Receiver(receiver_server.receiver.url)
    return receiver_server.receiver
