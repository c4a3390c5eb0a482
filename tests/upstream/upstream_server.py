"""Raw-bytes HTTP servers for the upstream client tests: they say exactly what the test wants."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import Any

from lockgate.upstream import Timeouts

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
FAST = Timeouts(connect=2.0, first_byte=2.0, idle=2.0, total=5.0)


class ServerConn:
    """One accepted connection, with helpers to read requests and write raw bytes."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.server = server
        self.index = server.connections  # 1-based order of acceptance
        self.closed_by_server = False

    async def read_request(self) -> bytes | None:
        """The next request (head + Content-Length body), or None at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await self.reader.readexactly(length) if length else b""
        self.server.requests.append(head + body)
        self.server._notify()
        return head + body

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        self.closed_by_server = True
        self.writer.close()


Handler = Callable[[ServerConn], Awaitable[None]]


class RawServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.eofs = 0  # connections the client closed (the server read EOF or a reset)
        self.requests: list[bytes] = []
        self.changed = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, ssl: SSLContext | None = None) -> RawServer:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        conn = ServerConn(reader, writer, self)
        try:
            await self.handler(conn)
            # Handler done: wait for the client to close its side, to count it.
            if not conn.closed_by_server and await _eof(reader):
                self.eofs += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            self.eofs += 1
        finally:
            self.open -= 1
            writer.close()
            self.tasks.discard(task)
            self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def notify(self) -> None:
        """Wake wait_for() to re-check its condition."""
        self._notify()

    async def wait_for(self, cond: Callable[[], bool], within: float = 3.0) -> None:
        async with asyncio.timeout(within):
            while not cond():
                await self.changed.wait()

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.server is not None:
            self.server.close()


async def _eof(reader: asyncio.StreamReader) -> bool:
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    return True


def answer(response: bytes = OK) -> Handler:
    """A keep-alive server answering every request with ``response``."""

    async def handler(conn: ServerConn) -> None:
        while await conn.read_request() is not None:
            await conn.write(response)

    return handler


async def stall(conn: ServerConn) -> None:
    """Read the request, then never answer; returns when the client closes."""
    await conn.read_request()
    await conn.reader.read()
