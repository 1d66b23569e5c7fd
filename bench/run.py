"""The Hookline benchmark, first version: delivery throughput and publish-to-receipt latency.

    python bench/run.py [--events 20000] [--batch 500]

Starts the fast receiver (bench/receiver.py) and ``hookline serve`` on a fresh SQLite file,
both on loopback; creates one signed webhook; publishes N events through
``POST /api/internal/events/batch``; waits until the receiver has every delivery; prints
deliveries/s and latency percentiles (publish -> receipt, measured from the moment each batch
was sent). Everything it starts, it stops. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "bench-admin-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(method: str, url: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    req.add_header("Authorization", f"Bearer {ADMIN_KEY}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback only
        raw = resp.read()
    return json.loads(raw) if raw else None


def wait_for(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench: {url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    receiver_port, api_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        HOOKLINE_DATABASE_URL=f"sqlite:///{workdir}/bench.db",
        HOOKLINE_PORT=str(api_port),
        HOOKLINE_ADMIN_KEY=ADMIN_KEY,
        HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8",
        HOOKLINE_LOG_LEVEL="warning",
    )
    receiver = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "receiver.py"), str(receiver_port)],
        stdout=subprocess.DEVNULL,
    )
    serve = subprocess.Popen(
        [sys.executable, "-m", "hookline", "serve"], env=env, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_for(f"{base}/healthz")
        wait_for(f"http://127.0.0.1:{receiver_port}/stats")
        request(
            "POST",
            f"{base}/api/internal/webhooks",
            {
                "name": "bench",
                "url": f"http://127.0.0.1:{receiver_port}/hook",
                "events": ["ReportPublished"],
                "secret": "bench-secret-value",
            },
        )
        started = time.time()
        for offset in range(0, args.events, args.batch):
            count = min(args.batch, args.events - offset)
            sent_at = time.time()
            items = [
                {"event": "ReportPublished", "data": {"sentAt": sent_at, "n": offset + i}}
                for i in range(count)
            ]
            request("POST", f"{base}/api/internal/events/batch", {"events": items})
        published = time.time()
        stats: dict[str, float] = {}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            stats = request("GET", f"http://127.0.0.1:{receiver_port}/stats")  # type: ignore[assignment]
            if stats["unique"] >= args.events:
                break
            time.sleep(0.2)
        elapsed = stats["last"] - started
        print(f"events published     {args.events} in {published - started:.2f} s")
        print(f"deliveries received  {stats['count']} ({stats['duplicates']} duplicates)")
        print(f"delivery throughput  {stats['unique'] / elapsed:,.0f} deliveries/s")
        print(
            f"publish -> receipt   p50 {stats['p50_ms']:.1f} ms  p95 {stats['p95_ms']:.1f} ms"
            f"  p99 {stats['p99_ms']:.1f} ms"
        )
    finally:
        for proc in (serve, receiver):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
