"""The receiver: checks each signature, journals each receipt (fsync) and only then answers.

Run as ``python -m tests.chaos.sink --port P --journal FILE --secret S --timeout T``. The path
of the request picks the endpoint's behaviour:

- ``/ok``: always 200.
- ``/flaky``: the first attempt of an event fails in a way chosen by its sequence number (500;
  429 with ``Retry-After: 1``; a connection reset after reading the body; a hang past the
  delivery timeout), or succeeds; later attempts succeed.
- ``/gone``: always 410 (final at once).
- ``/dead``: always 500 (the delivery fails after its last attempt).
- ``/slow``: 200 after 0.3 s (keeps deliveries in flight).

A receipt records ``answer``: the status the sink gave, or ``reset``/``hang``. Only
``answer == 200`` is an acknowledged receipt (Hookline saw a success, unless a fault in between
ate the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import struct
import time
from pathlib import Path
from typing import Any

from tests.chaos.records import Journal

FLAKY_MODES = ("500", "429", "reset", "hang", "200")


def flaky_answer(seq: int, attempt: int) -> str:
    """What ``/flaky`` does with an attempt: only first attempts misbehave. (``seq // 10``:
    the events routed to ``/flaky`` all have the same ``seq % 10``.)"""
    if attempt > 1:
        return "200"
    return FLAKY_MODES[(seq // 10) % len(FLAKY_MODES)]


def answer_for(path: str, seq: int, attempt: int) -> str:
    if path == "/gone":
        return "410"
    if path == "/dead":
        return "500"
    if path == "/flaky":
        return flaky_answer(seq, attempt)
    return "200"


class Sink:
    def __init__(self, journal: Journal, secret: bytes, timeout: float) -> None:
        self.journal = journal
        self.secret = secret
        self.hang = timeout + 1.0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self.one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _method, path, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        received = time.time()
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        signature_ok = hmac.compare_digest(expected, headers.get("x-authorization-hmac-256", ""))
        try:
            payload: dict[str, Any] = json.loads(body)
            event_id, seq = str(payload["id"]), int(payload["data"]["seq"])
        except (ValueError, KeyError, TypeError):
            event_id, seq = "", -1
        attempt = int(headers.get("x-hookline-attempt", "0") or 0)
        answer = answer_for(path, seq, attempt)
        await self.journal.append(
            {
                "t": received,
                "path": path,
                "delivery": headers.get("x-hookline-delivery", ""),
                "attempt": attempt,
                "event": event_id,
                "seq": seq,
                "sig": signature_ok,
                "sha": hashlib.sha256(body).hexdigest()[:32],
                "answer": answer,
            }
        )
        if answer == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close() sends RST
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if answer == "hang":
            await asyncio.sleep(self.hang)
            answer = "200"
        elif path == "/slow":
            await asyncio.sleep(0.3)
        extra = "Retry-After: 1\r\n" if answer == "429" else ""
        head = f"HTTP/1.1 {answer} X\r\nContent-Length: 2\r\n{extra}Content-Type: text/plain\r\n"
        writer.write(head.encode() + b"\r\nok")
        await writer.drain()
        return headers.get("connection", "").lower() != "close"


async def main(args: argparse.Namespace) -> None:
    journal = Journal(Path(args.journal))
    sink = Sink(journal, args.secret.encode(), args.timeout)
    server = await asyncio.start_server(sink.handle, "127.0.0.1", args.port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--journal", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--timeout", type=float, required=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
