"""The Hookline processes of one run: ``serve`` on SQLite, or ``api`` + 2 ``worker`` on
PostgreSQL. Processes can be killed, stopped, continued and restarted by role and index; every
incarnation's output goes to its own files in the work directory.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.docs.processes import ADMIN_KEY, Spawned, clean_env, free_port

# Short timings so that an always-failing endpoint reaches its final state within seconds and a
# lease (timeout + the engine's 5 s slack) expires within a run.
DELIVERY_TIMEOUT = 2.0
MAX_RETRIES = 6
LEASE = DELIVERY_TIMEOUT + 5.0


class Stack:
    def __init__(
        self, workdir: Path, database_url: str, sqlite: bool, engine_process: bool = False
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.roles = {"serve": 1} if sqlite else {"api": 1, "worker": 2}
        self.procs: dict[tuple[str, int], Spawned] = {}
        self.procs_ever: list[Spawned] = []  # every incarnation
        self.incarnations = 0
        self.env = clean_env(
            HOOKLINE_DATABASE_URL=database_url,
            HOOKLINE_PORT=str(self.port),
            HOOKLINE_ADMIN_KEY=ADMIN_KEY,
            HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8",
            HOOKLINE_SECRET_KEY="chaos-secret-key-" + "x" * 32,
            HOOKLINE_DELIVERY_TIMEOUT=str(DELIVERY_TIMEOUT),
            HOOKLINE_MAX_RETRIES=str(MAX_RETRIES),
            HOOKLINE_RETRY_BASE_DELAY="0.2",
            HOOKLINE_RETRY_MAX_DELAY="1",
            HOOKLINE_WORKER_CONCURRENCY="64",
            HOOKLINE_LOG_LEVEL="warning",
            HOOKLINE_ENGINE_PROCESS=str(engine_process).lower(),
        )
        self.api_role = "serve" if sqlite else "api"

    def migrate(self, url: str) -> None:
        env = {**self.env, "HOOKLINE_DATABASE_URL": url}
        subprocess.run(
            [sys.executable, "-m", "hookline", "migrate"], env=env, check=True, capture_output=True
        )

    def start_all(self) -> None:
        for role, count in self.roles.items():
            for index in range(count):
                self.start(role, index)
        for role, index in self.procs:
            self.wait_started(role, index)
        self.wait_ready()

    def start(self, role: str, index: int) -> Spawned:
        self.incarnations += 1
        name = f"{role}{index}-{self.incarnations}"
        argv = [sys.executable, "-m", "hookline", role]
        proc = Spawned.start(argv, self.env, self.workdir, name)
        self.procs[(role, index)] = proc
        self.procs_ever.append(proc)
        return proc

    def wait_started(self, role: str, index: int, seconds: float = 60.0) -> None:
        """Until the process printed its banner (a worker does once its store is open): a
        worker restarted into a database outage exits 1 instead of waiting (see the report)."""
        proc = self.proc(role, index)
        deadline = time.monotonic() + seconds
        while "Hookline " not in proc.stderr:
            if proc.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{role}{index} did not start:\n{proc.output()[-3000:]}")
            time.sleep(0.05)

    def proc(self, role: str, index: int = 0) -> Spawned:
        return self.procs[(role, index)]

    def signal(self, role: str, index: int, sig: int) -> None:
        self.proc(role, index).process.send_signal(sig)

    def kill(self, role: str, index: int) -> None:
        proc = self.proc(role, index).process
        proc.kill()
        proc.wait(10)

    def terminate(self, role: str, index: int) -> int:
        """SIGTERM and wait: the exit code of a graceful stop (or -9 if it had to be killed)."""
        return self.proc(role, index).stop(signal.SIGTERM)

    def wait_ready(self, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for (role, index), proc in self.procs.items():
                if proc.process.poll() is not None:
                    raise RuntimeError(f"{role}{index} exited:\n{proc.output()[-3000:]}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.base} did not come up")

    def stop_all(self) -> dict[str, int]:
        """Graceful stop of every process (SIGCONT first, in case one is stopped)."""
        codes = {}
        for (role, index), proc in self.procs.items():
            if proc.process.poll() is None:
                proc.process.send_signal(signal.SIGCONT)
            codes[f"{role}{index}"] = proc.stop(signal.SIGTERM)
        return codes

    def error_lines(self) -> int:
        """``ERROR`` log lines (unexpected errors) in every Hookline process's output."""
        # serve's own report of a delivery process killed on purpose (kill_engine) is expected.
        expected = "the delivery process exited"
        return sum(
            sum(1 for line in p.stderr.splitlines() if " ERROR " in line and expected not in line)
            for p in self.procs_ever
        )
