"""Real processes for the docs and CLI tool tests: ``hookline serve``, ``hookline listen`` and the
receiver examples, each with its output in files and killed whatever happens.

``Spawned.start(argv, env, cwd, name)`` runs a command with stdout and stderr in files;
``hookline_serve(tmp, stack)`` runs ``python -m hookline serve`` on a fresh SQLite file and a
free port, with loopback allowed, and returns an :class:`Api` on it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "docs-admin-key-0123456789"
STARTUP_TIMEOUT = 20.0


def delivery_processes(parent: int) -> list[int]:
    """PIDs of the live ``hookline.engine_process`` children of ``parent`` (``serve`` with
    ``HOOKLINE_ENGINE_PROCESS``); Linux, from ``/proc``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z" and b"hookline.engine_process" in cmdline:
            found.append(int(entry.name))
    return found


def free_port() -> int:
    """A port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``HOOKLINE_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    env.update(extra)
    return env


@dataclass
class Spawned:
    """A started process whose stdout and stderr go to files."""

    name: str
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @classmethod
    def start(cls, argv: Sequence[str], env: dict[str, str], cwd: Path, name: str) -> Spawned:
        out, err = cwd / f"{name}.out", cwd / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                list(argv), env=env, cwd=cwd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL
            )
        return cls(name, process, out, err)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        """Both streams, for failure messages."""
        return f"--- {self.name} stdout\n{self.stdout}\n--- {self.name} stderr\n{self.stderr}"

    def alive(self) -> bool:
        """True while running; fails at once, with the output, if it died."""
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"{self.name} exited with {code}:\n{self.output()}")
        return True

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and return the exit code (kill after 10 s)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(10)


def accepts_connections(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@contextlib.contextmanager
def spawned(argv: Sequence[str], env: dict[str, str], cwd: Path, name: str) -> Iterator[Spawned]:
    """:meth:`Spawned.start` as a context: the process is stopped (then killed) on exit."""
    proc = Spawned.start(argv, env, cwd, name)
    try:
        yield proc
    finally:
        proc.stop()


class Api:
    """A small synchronous client of a running Hookline, as the admin."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
            trust_env=False,
        )

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        answer = self.client.request(method, path, json=body)
        assert answer.status_code == expect, f"{method} {path}: {answer.text}"
        return answer.json() if answer.content else None

    def webhook(self, url: str, secret: str, **fields: Any) -> str:
        body = {"name": "docs", "url": url, "events": ["ReportPublished"], "secret": secret}
        return str(self.call("POST", "/api/internal/webhooks", {**body, **fields}, 201)["id"])

    def delivery(self, event_id: str, webhook_id: str) -> dict[str, Any]:
        """The one delivery of an event to a webhook, once it is no longer pending."""

        def settled() -> dict[str, Any] | None:
            page = self.call(
                "GET", f"/api/internal/deliveries?eventId={event_id}&webhookId={webhook_id}"
            )
            found = [d for d in page["data"] if d["status"] not in ("pending", "delivering")]
            return found[0] if found else None

        result: dict[str, Any] = wait_for(settled, 15, f"the delivery of {event_id}")
        return result


def serve_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a test ``hookline serve``: SQLite in ``workdir``, loopback allowed."""
    return clean_env(
        HOOKLINE_DATABASE_URL=f"sqlite:///{workdir / 'hookline.db'}",
        HOOKLINE_ADMIN_KEY=ADMIN_KEY,
        HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8",
        HOOKLINE_SECRET_KEY="docs-secret-key-" + "x" * 32,
        HOOKLINE_RETRY_BASE_DELAY="0.2",
        HOOKLINE_LOG_LEVEL="warning",
        **extra,
    )


@contextlib.contextmanager
def hookline_serve(workdir: Path) -> Iterator[tuple[Api, Spawned]]:
    """``hookline serve`` on a free port and a fresh SQLite file in ``workdir``."""
    port = free_port()
    env = serve_env(workdir, HOOKLINE_PORT=str(port))
    argv = [sys.executable, "-m", "hookline", "serve"]
    with spawned(argv, env, workdir, "serve") as proc:
        api = Api(f"http://127.0.0.1:{port}")

        def healthy() -> bool:
            proc.alive()
            try:
                return api.client.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(healthy, STARTUP_TIMEOUT, "hookline serve to answer /healthz")
            yield api, proc
        finally:
            api.client.close()
