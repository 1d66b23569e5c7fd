"""The fast loopback receiver: a raw asyncio (uvloop when installed) protocol that answers 200.

It must never be what limits a benchmark, so it parses just enough HTTP/1.1 to find each
request's end (all searches are done by C string methods, not Python loops) and records:

* the receipt time of the first and the last request of the current window, and the count;
* the delivery id (``X-Hookline-Delivery``, or ``X-Bench-Id`` for the non-Hookline senders),
  kept across windows, so a duplicate is noticed whenever it arrives;
* ``receipt - sentAt`` for a body carrying ``"sentAt":<unix seconds>`` (the scheduled send
  time in the latency scenario).

Control requests on the first port: ``GET /stats`` (cheap counters, JSON), ``GET /latency``
(percentiles of the window), ``POST /window`` (new window, ids kept), ``POST /reset`` (all).

    python -m bench.receiver PORT [PORT ...] [--hang PORT ...]

``--hang`` ports accept connections and read requests but never answer (an endpoint that
hangs past Hookline's timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

_SENT_AT = re.compile(rb'"sentAt":\s*([0-9.]+)')
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
_LENGTH = b"\r\ncontent-length:"
_ID_HEADERS = (b"\r\nx-hookline-delivery:", b"\r\nx-bench-id:")


class Stats:
    """Counters of one receiver process."""

    def __init__(self) -> None:
        self.ids: set[bytes] = set()
        self.duplicates = 0
        self.hung = 0
        self.window()

    def window(self) -> None:
        """Start a new measuring window (ids and duplicates are kept)."""
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: list[float] = []

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "unique": len(self.ids),
            "duplicates": self.duplicates,
            "hung": self.hung,
            "first": self.first,
            "last": self.last,
        }

    def latency(self) -> dict[str, object]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None

        return {
            "n": len(lat),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": lat[-1] * 1000 if lat else None,
        }


STATS = Stats()


def _header(head: bytes, lowered: bytes, name: bytes) -> bytes | None:
    at = lowered.find(name)
    if at < 0:
        return None
    start = at + len(name)
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip()


class Receiver(asyncio.Protocol):
    """Answers every request 200 ``ok`` and counts it."""

    answer = True

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            lowered = head.lower()
            raw_length = _header(head, lowered, _LENGTH)
            end = head_end + 4 + (int(raw_length) if raw_length else 0)
            if len(self.buffer) < end:
                return
            body = self.buffer[head_end + 4 : end]
            self.buffer = self.buffer[end:]
            self.handle(head, lowered, body)

    def handle(self, head: bytes, lowered: bytes, body: bytes) -> None:
        if not self.answer:
            STATS.hung += 1
            return
        assert self.transport is not None
        if head.startswith((b"GET /stats", b"GET /latency", b"POST /window", b"POST /reset")):
            self.transport.write(_control(head))
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
        for name in _ID_HEADERS:
            ident = _header(head, lowered, name)
            if ident is not None:
                if ident in stats.ids:
                    stats.duplicates += 1
                else:
                    stats.ids.add(ident)
                break
        self.transport.write(_OK)


class Hanger(Receiver):
    """Reads requests and never answers."""

    answer = False


def _control(head: bytes) -> bytes:
    global STATS
    if head.startswith(b"GET /stats"):
        return _json(STATS.as_dict())
    if head.startswith(b"GET /latency"):
        return _json(STATS.latency())
    if head.startswith(b"POST /window"):
        STATS.window()
    else:
        STATS = Stats()
    return _OK


def _json(value: object) -> bytes:
    body = json.dumps(value).encode()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def main(ports: list[int], hang: list[int]) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(Receiver, "127.0.0.1", p, backlog=4096) for p in ports]
    servers += [await loop.create_server(Hanger, "127.0.0.1", p, backlog=4096) for p in hang]
    print(f"receiver on {ports}, hanging on {hang}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def cli() -> None:
    parser = argparse.ArgumentParser(description="fast loopback benchmark receiver")
    parser.add_argument("ports", type=int, nargs="+")
    parser.add_argument("--hang", type=int, nargs="*", default=[])
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.ports, args.hang))
    else:
        uvloop.run(main(args.ports, args.hang))


if __name__ == "__main__":
    cli()
