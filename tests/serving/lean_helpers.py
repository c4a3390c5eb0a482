"""Helpers for the LeanServer tests: a server on a free port, a raw client, an echo app."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from lockgate.serving import LeanServer

Message = MutableMapping[str, Any]
App = Callable[[Any, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Any]


@contextlib.asynccontextmanager
async def serving(app: App, **kwargs: Any) -> AsyncIterator[LeanServer]:
    kwargs.setdefault("graceful_timeout", 2.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))

    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":  # returning on lifespan says "not supported"
            await app(scope, receive, send)

    server = LeanServer(http_only, host="127.0.0.1", port=0, sock=sock, **kwargs)
    task = asyncio.create_task(server.serve())
    while not server.bound_port:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    try:
        yield server
    finally:
        server.request_shutdown()
        await asyncio.wait_for(task, 10)


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """Answers with what it saw: method, path, query, body."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = orjson.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "query": scope["query_string"].decode(),
            "body": body.decode(),
            "version": scope["http_version"],
        }
    )
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """(status line, headers, body) of one response, honouring its framing."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head[:-4].split(b"\r\n")
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    if lines[0].split(b" ")[1] in (b"204", b"304"):
        body = b""
    elif b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            chunk = await reader.readexactly(size + 2)
            if not size:
                break
            body += chunk[:-2]
    else:
        body = await reader.read()
    return lines[0], headers, body


async def read_all(port: int, data: bytes, within: float = 5) -> bytes:
    """Send ``data`` and read until the server closes (within ``within`` seconds)."""
    reader, writer = await connect(port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), within)
    finally:
        writer.close()


class SpyTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closing = False
        self.reading: list[bool] = []  # every pause_reading (False) / resume_reading (True)

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 80)}.get(name)

    def pause_reading(self) -> None:
        self.reading.append(False)

    def resume_reading(self) -> None:
        self.reading.append(True)

    def abort(self) -> None:
        self.closing = True
