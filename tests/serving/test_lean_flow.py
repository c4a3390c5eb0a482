"""Read-side flow control, watched through a spy transport: pipelining and body buffering."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from lean_helpers import SpyTransport

from lockgate.serving import ServerLimits
from lockgate.serving.context import BODY_HIGH_WATER, ServerContext
from lockgate.serving.protocol import HttpProtocol


def connection(app: Any, limits: ServerLimits) -> tuple[HttpProtocol, SpyTransport]:
    ctx = ServerContext(app, asyncio.get_running_loop(), limits)
    ctx.date_server = b"date: now\r\nserver: lockgate\r\n"
    conn = HttpProtocol(ctx)
    spy = SpyTransport()
    conn.connection_made(spy)
    return conn, spy


async def test_reading_pauses_beyond_max_pipelined_and_resumes_as_the_queue_drains() -> None:
    release = asyncio.Event()
    last: asyncio.Future[asyncio.Task[Any]] = asyncio.get_running_loop().create_future()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/0":
            await release.wait()  # holds the queue behind it
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})
        if scope["path"] == "/3":
            task = asyncio.current_task()
            assert task is not None
            last.set_result(task)

    conn, spy = connection(app, ServerLimits(max_pipelined=2))
    conn.data_received(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(4)))
    assert len(conn.pipeline) == 3 and spy.reading == [False]  # paused once two queued
    release.set()
    await asyncio.wait_for(await asyncio.wait_for(last, 5), 5)  # the last app task ended
    assert spy.reading == [False, True]  # resumed when the queue fell below the limit
    assert [w.rsplit(b"\r\n\r\n", 1)[1] for w in spy.writes] == [b"/0", b"/1", b"/2", b"/3"]
    conn.connection_lost(None)


async def test_body_beyond_high_water_pauses_reading_until_the_app_takes_it() -> None:
    go = asyncio.Event()
    first_read = asyncio.Event()
    got: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await go.wait()  # the body piles up meanwhile
        more = True
        while more:
            message = await receive()
            got.append(len(message["body"]))
            first_read.set()
            more = message["more_body"]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    conn, spy = connection(app, ServerLimits())
    size = 3 * BODY_HIGH_WATER
    conn.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
    conn.data_received(b"a" * BODY_HIGH_WATER)
    assert spy.reading == []  # at the mark, not beyond it
    conn.data_received(b"a")
    assert spy.reading == [False]
    go.set()
    await asyncio.wait_for(first_read.wait(), 5)
    assert got == [BODY_HIGH_WATER + 1] and spy.reading == [False, True]
    conn.data_received(b"a" * (size - BODY_HIGH_WATER - 1))
    assert conn.task is not None
    await conn.task
    assert sum(got) == size and spy.writes[0].startswith(b"HTTP/1.1 204 No Content")
    conn.connection_lost(None)


async def test_connections_get_tcp_nodelay_whatever_the_listening_socket() -> None:
    """asyncio sets TCP_NODELAY only when a socket's proto says TCP; ``socket.socket()`` (and
    descriptors handed over by a supervisor) say 0. Without it a streamed response's small
    writes wait on Nagle's algorithm and the client's delayed ACK (~40 ms)."""
    listener = socket.socket()  # proto 0
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.proto == 0
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        spy = SocketSpy(accepted)
        ctx = ServerContext(_no_app, asyncio.get_running_loop(), ServerLimits())
        conn = HttpProtocol(ctx)
        conn.connection_made(spy)
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        conn.connection_lost(None)  # cancels its header timer
    finally:
        for s in (client, accepted, listener):
            s.close()


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


class SocketSpy(SpyTransport):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else super().get_extra_info(name, default)
