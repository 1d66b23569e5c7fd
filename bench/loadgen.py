"""The ceiling client: the bare aiohttp sender any Python service could write, nothing else.

    python -m bench.loadgen URL N CONCURRENCY

Sends N POSTs of Hookline's body (~500 bytes, pre-rendered as Hookline stores it) with the
headers Hookline sends, signing each body with HMAC-SHA256 as it goes (as Hookline signs at
send time), CONCURRENCY requests in flight over one connection pool, on uvloop when installed.
Prints ``{"sent", "errors", "seconds"}`` as JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time

import aiohttp

from bench.harness import WEBHOOK_SECRET
from bench.hookapi import EVENT, delivery_body, run


async def load(url: str, n: int, concurrency: int) -> dict[str, float]:
    bodies = [delivery_body(i) for i in range(n)]
    key = WEBHOOK_SECRET.encode()
    counter = iter(range(n))
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def lane() -> None:
            nonlocal errors
            for i in counter:
                body = bodies[i]
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "bench-ceiling",
                    "Accept-Encoding": "identity",
                    "X-Hookline-Event": EVENT,
                    "X-Hookline-Delivery": f"dlv_ceiling_{i}",
                    "X-Hookline-Attempt": "1",
                    "X-Hookline-Webhook": "wh_ceiling",
                    "X-Authorization-HMAC-256": hmac.new(key, body, hashlib.sha256).hexdigest(),
                }
                try:
                    async with http.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        errors += resp.status != 200
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"sent": n, "errors": errors, "seconds": seconds}


def main() -> None:
    url, n, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit("loadgen: loopback URLs only")
    print(json.dumps(run(load(url, n, concurrency))), flush=True)


if __name__ == "__main__":
    main()
