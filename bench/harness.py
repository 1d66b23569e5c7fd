"""Process management, loopback HTTP helpers, time budget and statistics for the benchmark.

Every process the benchmark starts goes through :class:`Processes`, a context manager that
stops what it started (SIGTERM, then SIGKILL after a grace period) however the block ends.
Every wait is bounded by a deadline. Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
SECRET_KEY = "bench-secret-key-" + "x" * 32  # HOOKLINE_SECRET_KEY (encrypts webhook secrets)
WEBHOOK_SECRET = "bench-webhook-signing-secret-0123"  # noqa: S105 - a benchmark's fixture
POLL = 0.05  # seconds between two looks at a receiver's counters
SOURCE: dict[str, Path] = {}  # "snapshot": the copy of src/ that every Hookline process runs
GRACE = {"seconds": 15.0}  # SIGTERM -> SIGKILL; shortened when the benchmark itself is stopped


class BenchError(Exception):
    """A scenario could not run (a process died, a wait timed out); the message says which."""


class Budget:
    """The whole run's time budget: scenarios ask how much is left before they start."""

    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def limit(self, seconds: float) -> float:
        """``seconds``, or less if the budget ends sooner (never below 1 s)."""
        return max(1.0, min(seconds, self.remaining()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- HTTP on loopback ---------------------------------------------------------------------------
def call(
    method: str, url: str, body: object | None = None, *, key: str | None = ADMIN_KEY
) -> tuple[int, Any]:
    """One JSON request; answers (status, parsed body). Loopback URLs only."""
    if not url.startswith("http://127.0.0.1:"):
        raise BenchError(f"refusing a non-loopback URL: {url}")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback only
            raw = resp.read()
            json_answer = resp.headers.get("Content-Type", "").startswith("application/json")
            return resp.status, json.loads(raw) if json_answer else raw.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:500]


class Receiver:
    """Controls one receiver process (bench/receiver.py) through its first port."""

    def __init__(self, port: int, hang_ports: Sequence[int] = ()) -> None:
        self.port = port
        self.hang_ports = tuple(hang_ports)
        self.base = f"http://127.0.0.1:{port}"

    def url(self, path: str = "/hook", port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.port}{path}"

    def stats(self) -> dict[str, Any]:
        return call("GET", self.base + "/stats", key=None)[1]  # type: ignore[no-any-return]

    def latency(self) -> dict[str, Any]:
        return call("GET", self.base + "/latency", key=None)[1]  # type: ignore[no-any-return]

    def window(self) -> None:
        call("POST", self.base + "/window", key=None)

    def reset(self) -> None:
        call("POST", self.base + "/reset", key=None)

    def wait_until(self, target: int, seconds: float) -> dict[str, Any]:
        """Poll until the window's count reaches ``target`` or ``seconds`` pass; last stats."""
        deadline = time.monotonic() + seconds
        stats = self.stats()
        while stats["count"] < target and time.monotonic() < deadline:
            time.sleep(POLL)
            stats = self.stats()
        return stats

    def wait_count(self, target: int, seconds: float, what: str) -> dict[str, Any]:
        """Like :meth:`wait_until`, but BenchError if ``target`` is not reached in time."""
        stats = self.wait_until(target, seconds)
        if stats["count"] < target:
            raise BenchError(f"{what}: {stats['count']} of {target} received in {seconds:.0f} s")
        return stats


# -- processes ----------------------------------------------------------------------------------
def hookline_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """A controlled environment: no inherited HOOKLINE_* variable, loopback allowed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        HOOKLINE_DATABASE_URL=database_url,
        HOOKLINE_PORT=str(port),
        HOOKLINE_ADMIN_KEY=ADMIN_KEY,
        HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8",
        HOOKLINE_SECRET_KEY=SECRET_KEY,
        HOOKLINE_LOG_LEVEL="warning",
    )
    if "snapshot" in SOURCE:
        env["PYTHONPATH"] = str(SOURCE["snapshot"])
    env.update(extra)
    return env


def snapshot_source(workdir: Path) -> str:
    """Copy ``src/hookline`` into ``workdir`` and run every Hookline process (and this one's
    imports) from that copy, so all scenarios measure the same code even while ``src/`` is
    being edited. Answers a short SHA-256 of the copied files."""
    target = workdir / "source"
    shutil.copytree(
        ROOT / "src" / "hookline",
        target / "hookline",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    digest = hashlib.sha256()
    for path in sorted((target / "hookline").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    SOURCE["snapshot"] = target
    sys.path.insert(0, str(target))
    return digest.hexdigest()[:12]


def drop_databases(workdir: Path) -> None:
    """Delete the SQLite files of a finished run (its logs stay).

    Left in place, what a run wrote keeps the disk busy after it: the kernel writes its dirty
    pages back while the next scenario runs, and every ``fsync`` of that scenario waits behind
    them. Measured: scenario 5 right after scenario 4's batches (several GB written) had a
    median latency of 6.6 ms and a 99th percentile of 74 ms, against 2.7 and 9.3 ms alone;
    the pages of a deleted file are dropped, not written."""
    for pattern in ("*.db", "*.db-wal", "*.db-shm"):
        for path in workdir.glob(pattern):
            path.unlink(missing_ok=True)


class Processes:
    """Starts processes (logs in ``workdir``) and stops every one of them on exit (and then
    deletes their SQLite files: :func:`drop_databases`)."""

    def __init__(
        self, workdir: Path, on_exit: Callable[[Counter[str]], None] | None = None
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.on_exit = on_exit  # is handed what Hookline logged as errors and warnings

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for _, proc in reversed(self.started):
            self.stop(proc)
        if self.on_exit is not None:
            self.on_exit(self.problems())
        drop_databases(self.workdir)

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own session (so its children stop with it)."""
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append((name, proc))
        return proc

    def hookline(self, role: str, env: dict[str, str], name: str = "") -> subprocess.Popen[bytes]:
        return self.start(name or role, [sys.executable, "-m", "hookline", role], env)

    def receiver(self, count: int = 1, hang: int = 0) -> tuple[Receiver, list[int]]:
        """A receiver answering on ``count`` ports (plus ``hang`` ports that never answer)."""
        ports = [free_port() for _ in range(count)]
        hangs = [free_port() for _ in range(hang)]
        argv = [sys.executable, "-m", "bench.receiver", *map(str, ports)]
        if hangs:
            argv += ["--hang", *map(str, hangs)]
        proc = self.start("receiver", argv, dict(os.environ, PYTHONPATH=str(ROOT)))
        receiver = Receiver(ports[0], hangs)
        self.wait_http(receiver.base + "/stats", proc, "receiver")
        return receiver, ports

    def wait_http(
        self, url: str, proc: subprocess.Popen[bytes], name: str, seconds: float = 30.0
    ) -> None:
        """Wait until ``url`` answers 200, or fail at once if ``proc`` has exited."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
            try:
                if call("GET", url, key=None)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError(f"{name} did not answer {url} within {seconds:.0f} s")

    def wait_log(
        self, name: str, text: str, proc: subprocess.Popen[bytes], seconds: float = 30.0
    ) -> None:
        """Wait until the log of ``name`` contains ``text`` (a worker's start-up line)."""
        path = self.workdir / f"{name}.log"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
            if path.exists() and text in path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise BenchError(f"{name} did not log {text!r} within {seconds:.0f} s")

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        """SIGTERM the process group, SIGKILL it after a grace period (15 s, or 2 s once the
        benchmark itself is being stopped)."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(GRACE["seconds"])
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(10)
        return proc.returncode

    def tail(self, name: str, lines: int = 5) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def problems(self) -> Counter[str]:
        """Hookline's ERROR and WARNING log lines, counted by kind (digits blotted out)."""
        found: Counter[str] = Counter()
        for name in dict.fromkeys(name for name, _ in self.started):
            if name in ("receiver", "celery"):
                continue
            path = self.workdir / f"{name}.log"
            for line in path.read_text(errors="replace").splitlines():
                if " ERROR " in line or " WARNING " in line or line.startswith("Traceback"):
                    found[_kind(line)] += 1
        return found


def _kind(line: str) -> str:
    """``LEVEL logger: message ... LastException: text`` of one (one-line) log record."""
    parts = line.split("\\n")
    head = re.sub(r"^\S+ ", "", parts[0])  # the timestamp
    tail = f" ... {parts[-1].strip()}" if len(parts) > 1 else ""
    return re.sub(r"\d+", "N", f"{head[:120]}{tail[:160]}")


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # its own session: the group id is its pid


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM for pid {pid}")


# -- statistics ---------------------------------------------------------------------------------
def summary(values: Sequence[float]) -> dict[str, float]:
    """Median and spread of the runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def rates(stats: dict[str, Any], n: int, published_at: float) -> dict[str, float]:
    """Both throughput figures of one run, from the receiver's counters.

    ``end_to_end``: ``n`` over first publish -> last receipt. ``drain``: the receipts after
    the first over the receipt window (first -> last receipt), which leaves out the time to
    the first delivery.
    """
    window = stats["last"] - stats["first"]
    return {
        "end_to_end": n / (stats["last"] - published_at),
        "drain": (stats["count"] - 1) / window if window > 0 else float("nan"),
    }
