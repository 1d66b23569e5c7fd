"""The corked transport under uvicorn: one write per turn of the event loop, bytes unchanged.

Real sockets on loopback throughout; the only addition is a recorder around the server's real
transport, to count the writes that reach it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from hookline.api.http_protocol import KEPT_MAX, CorkedHttpToolsProtocol, CorkedTransport

pytestmark = pytest.mark.asyncio


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.made = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.made.set()


class CountingTransport:
    """The real transport, counting what is written to it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def connected() -> tuple[CorkedTransport, CountingTransport, asyncio.StreamReader, Any]:
    loop = asyncio.get_running_loop()
    server_side = Recorder()
    server = await loop.create_server(lambda: server_side, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await server_side.made.wait()
    assert server_side.transport is not None
    counting = CountingTransport(server_side.transport)
    corked = CorkedTransport(counting, loop)  # type: ignore[arg-type]
    return corked, counting, reader, (server, writer)


async def next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_as_one_write_in_order() -> None:
    corked, counting, reader, (server, writer) = await connected()
    corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
    corked.writelines([b"body ", memoryview(b"one")])
    assert counting.writes == []  # nothing before the end of the turn
    await next_turn()
    assert counting.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody one"]
    corked.write(b"; two")
    await next_turn()
    assert counting.writes[1:] == [b"; two"]
    expected = b"HTTP/1.1 200 OK\r\n\r\nbody one; two"
    assert await asyncio.wait_for(reader.readexactly(len(expected)), 5) == expected
    writer.close()
    server.close()


async def test_a_large_body_is_written_at_once_behind_what_is_kept() -> None:
    corked, counting, reader, (server, writer) = await connected()
    big = b"x" * (KEPT_MAX + 1)
    corked.write(big)
    assert counting.writes == [big]  # nothing kept: written before the turn ends
    corked.write(b"head")
    corked.write(big)
    assert counting.writes[1:] == [b"head" + big]
    await next_turn()
    assert len(counting.writes) == 2  # the end of the turn finds nothing more to write
    data = await asyncio.wait_for(reader.readexactly(2 * len(big) + 4), 5)
    assert data == big + b"head" + big
    writer.close()
    server.close()


async def test_close_writes_what_is_kept_first_and_abort_drops_it() -> None:
    corked, counting, reader, (server, writer) = await connected()
    buffer = bytearray(b"kept")
    corked.write(buffer)
    buffer[:] = b"XXXX"  # the writer's buffer changes after write returned: the bytes do not
    corked.close()
    assert counting.writes == [b"kept"]
    assert await asyncio.wait_for(reader.read(), 5) == b"kept"  # then end of stream
    writer.close()

    corked, counting, reader, (server2, writer2) = await connected()
    corked.write(b"dropped")
    corked.abort()
    await next_turn()
    assert counting.writes == []
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer2.close()
    server.close()
    server2.close()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A small ASGI app: /fixed answers with a length, /stream in three chunks."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b"fixed:" + scope["path"].encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def served() -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CorkedHttpToolsProtocol, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_uvicorn_answers_whole_through_the_corked_transport(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:  # one kept-alive connection
        for n in range(20):
            response = await client.get(f"/fixed/{n}")
            assert (response.status_code, response.content) == (200, f"fixed:/fixed/{n}".encode())
        streamed = await client.get("/stream")
        assert streamed.headers["transfer-encoding"] == "chunked"
        assert streamed.content == b"one,two,three"
        closing = await client.get("/fixed/last", headers={"Connection": "close"})
        assert closing.content == b"fixed:/fixed/last"
        assert closing.headers["connection"] == "close"
