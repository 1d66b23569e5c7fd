"""uvicorn's HTTP/1.1 protocol, with each response leaving in one ``send()``.

uvicorn writes a response's head (on ``http.response.start``) and its body (on
``http.response.body``) to the socket as two writes, i.e. two system calls and two segments
on the wire, each waking the client. Measured under single-event ingest (wrk, 64 connections),
those two writes were ~7 % of ``serve``'s event loop. Here the transport given to uvicorn
keeps what is written during one turn of the event loop and writes it at the end of the turn
as one piece: the order of bytes is unchanged, nothing is held past the turn, and ``close``
and ``write_eof`` write what is kept first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

KEPT_MAX = 64 * 1024  # bytes kept before writing at once, whatever the turn


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` writing through a :class:`CorkedTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CorkedTransport(transport, self.loop))


class CorkedTransport(asyncio.Transport):
    """A transport whose writes of one event-loop turn go out together at the turn's end."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._kept: list[bytes] | None = None
        self._kept_size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes):  # the writer may change its buffer once this returns
            data = bytes(data)
        if self._kept is None:
            if len(data) > KEPT_MAX:
                self._transport.write(data)
                return
            self._kept, self._kept_size = [data], len(data)
            self._loop.call_soon(self.flush)
            return
        self._kept.append(data)
        self._kept_size += len(data)
        if self._kept_size > KEPT_MAX:  # a large body written without a pause: no need to
            self.flush()  # wait, and the real transport's flow control must see it

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Write what is kept (called at the end of the turn, and before closing)."""
        kept, self._kept = self._kept, None  # the call_soon of a flush done early finds None
        if not kept or self._transport.is_closing():
            return
        self._transport.write(kept[0] if len(kept) == 1 else b"".join(kept))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._kept = None
        self._transport.abort()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)
