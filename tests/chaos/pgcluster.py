"""A private PostgreSQL 15 cluster for the chaos run, never the machine's shared one.

``initdb`` refuses to run as root, so when we are root every server command runs as the
``postgres`` user (``runuser``) in a directory that user owns. ``restart()`` is an immediate
(crash-like) restart: ``pg_ctl restart -m immediate``, so the server runs crash recovery.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path(os.environ.get("HOOKLINE_CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def missing() -> str | None:
    """Why no private cluster can be run here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"no {PG_BIN / tool} (set HOOKLINE_CHAOS_PG_BIN)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


class Cluster:
    def __init__(self, port: int) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="hookline-chaos-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *argv: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *argv], capture_output=True, timeout=timeout, cwd=self.root, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout!r} {done.stderr!r}")

    def url(self, port: int | None = None, database: str = "hookline") -> str:
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{database}"

    def start(self) -> None:
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        self._pg_ctl("start")
        self._run(
            str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", "postgres", "-qc", "CREATE DATABASE hookline",
        )  # fmt: skip

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), action, "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", "60", "-o", options, *extra,
        )  # fmt: skip

    def restart(self) -> None:
        """Crash-like restart: no checkpoint, the server recovers from its WAL."""
        self._pg_ctl("restart", "-m", "immediate")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._pg_ctl("stop", "-m", "fast")
        shutil.rmtree(self.root, ignore_errors=True)
