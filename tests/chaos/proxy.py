"""A TCP fault proxy: ``python -m tests.chaos.proxy --listen P --target T --control C``.

Modes, switched by a line on the control port (``normal``, ``blackhole``, ``drop``; answer
``ok``):

- ``normal``: bytes flow both ways.
- ``blackhole``: nothing flows any more (existing connections stall, new ones are accepted
  but never forwarded), like a network partition; ``normal`` lets the stalled bytes through.
- ``drop``: every open connection is reset, and new ones are reset on accept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct

CHUNK = 65536


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Proxy:
    def __init__(self, target: int) -> None:
        self.target = target
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.mode = "normal"
        self.open: set[asyncio.StreamWriter] = set()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "normal":
            self.flowing.set()
            return
        self.flowing.clear()
        if mode == "drop":
            for writer in list(self.open):
                reset(writer)
            self.open.clear()

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
            await self.flowing.wait()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            reset(writer)  # pass a reset on as a reset

    async def client(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        if self.mode == "drop":
            reset(c_writer)
            return
        await self.flowing.wait()
        try:
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            reset(c_writer)
            return
        self.open.update((c_writer, s_writer))
        try:
            await asyncio.gather(self.pump(c_reader, s_writer), self.pump(s_reader, c_writer))
        finally:
            for writer in (c_writer, s_writer):
                self.open.discard(writer)
                writer.close()

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            mode = line.decode().strip()
            if mode in ("normal", "blackhole", "drop"):
                self.set_mode(mode)
                writer.write(b"ok\n")
            else:
                writer.write(b"unknown mode\n")
            await writer.drain()
        writer.close()


async def main(args: argparse.Namespace) -> None:
    proxy = Proxy(args.target)
    server = await asyncio.start_server(proxy.client, "127.0.0.1", args.listen, backlog=1024)
    control = await asyncio.start_server(proxy.control, "127.0.0.1", args.control)
    async with server, control:
        await asyncio.gather(server.serve_forever(), control.serve_forever())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--control", type=int, required=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
