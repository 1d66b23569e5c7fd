"""A fast loopback HTTP receiver for benchmarks: a raw asyncio protocol that answers 200.

It must never be what limits a benchmark (a raw protocol server handles far more requests a
second than any Python sender can make), so it parses just enough HTTP/1.1 to find each
request's end, and records the receive time and the publish timestamp carried in the body
(``"sentAt":<float seconds>``). ``GET /stats`` answers the counts and latencies as JSON;
``POST /reset`` clears them.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

_SENT_AT = re.compile(rb'"sentAt":([0-9.]+)')
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class Stats:
    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: list[float] = []
        self.deliveries: set[bytes] = set()
        self.duplicates = 0


STATS = Stats()


class Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body = self.buffer[head_end + 4 : end]
            self.buffer = self.buffer[end:]
            self.handle(head, body)

    def handle(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        if head.startswith(b"GET /stats"):
            self.transport.write(_json(_stats()))
            return
        if head.startswith(b"POST /reset"):
            global STATS
            STATS = Stats()
            self.transport.write(_OK)
            return
        now = time.time()
        stats = STATS
        stats.count += 1
        if stats.count == 1:
            stats.first = now
        stats.last = now
        match = _SENT_AT.search(body)
        if match:
            stats.latencies.append(now - float(match.group(1)))
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"x-hookline-delivery:"):
                delivery = line.split(b":", 1)[1].strip()
                if delivery in stats.deliveries:
                    stats.duplicates += 1
                stats.deliveries.add(delivery)
        self.transport.write(_OK)


def _stats() -> dict[str, object]:
    lat = sorted(STATS.latencies)

    def pct(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None

    return {
        "count": STATS.count,
        "unique": len(STATS.deliveries),
        "duplicates": STATS.duplicates,
        "first": STATS.first,
        "last": STATS.last,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def _json(value: object) -> bytes:
    body = json.dumps(value).encode()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    print(f"receiver on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
