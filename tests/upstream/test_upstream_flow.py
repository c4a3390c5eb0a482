"""Timeouts, backpressure and cancellation: the exchange ends cleanly and nothing leaks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from upstream_server import FAST, Handler, RawServer, ServerConn, stall

from lockgate.errors import UpstreamProtocolError, UpstreamTimeout
from lockgate.upstream import Timeouts, UpstreamClient, UpstreamRequest
from lockgate.upstream.connection import HIGH_WATER, Connection

Serve = Callable[[Handler], Awaitable[RawServer]]
HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def req(server: RawServer) -> UpstreamRequest:
    return UpstreamRequest("POST", server.url("/v1/chat"), [], b"{}")


async def stream_then_stall(conn: ServerConn) -> None:
    await conn.read_request()
    await conn.write(HEAD_CHUNKED + b"3\r\none\r\n")
    await conn.reader.read()


async def drip(conn: ServerConn) -> None:
    """A chunk every second forever: never idle, but never done."""
    await conn.read_request()
    await conn.write(HEAD_CHUNKED)
    while True:
        await conn.write(b"1\r\nx\r\n")
        await asyncio.sleep(1)


def reading_paused(conn: Connection) -> bool:
    return conn.paused


async def assert_released(client: UpstreamClient, server: RawServer) -> None:
    await server.wait_for(lambda: server.eofs == 1)
    assert [(s.connections, s.idle, s.waiting) for s in client.pool_stats()] == [(0, 0, 0)]


# Timeouts run on the virtual clock (tests/virtual_time.py): realistic values, and each test
# checks the moment its timeout fired, whatever the load on the machine.


def since(started: float) -> float:
    return asyncio.get_running_loop().time() - started


@pytest.mark.virtual_time
async def test_first_byte_timeout(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(stall)
    started = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamTimeout, match=r"first byte timeout \(30\.0s\)"):
        await client.send(req(server), Timeouts(first_byte=30.0))
    assert since(started) == pytest.approx(30, abs=0.01)
    await assert_released(client, server)


@pytest.mark.virtual_time
async def test_idle_timeout(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(stream_then_stall)
    resp = await client.send(req(server), Timeouts(idle=20.0))
    body = resp.iter_body()
    assert await anext(body) == b"one"
    started = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamTimeout, match=r"idle timeout \(20\.0s\)"):
        await anext(body)
    assert since(started) == pytest.approx(20, abs=0.01)
    await assert_released(client, server)


@pytest.mark.virtual_time
async def test_idle_timeout_in_read(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(stream_then_stall)
    started = asyncio.get_running_loop().time()
    resp = await client.send(req(server), Timeouts(idle=20.0))
    with pytest.raises(UpstreamTimeout, match="idle"):
        await resp.read()
    assert since(started) == pytest.approx(20, abs=0.01)
    await assert_released(client, server)


@pytest.mark.virtual_time
async def test_total_timeout_while_data_keeps_coming(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(drip)
    started = asyncio.get_running_loop().time()
    resp = await client.send(req(server), Timeouts(idle=5.0, total=60.0))
    with pytest.raises(UpstreamTimeout, match=r"total timeout \(60\.0s\)"):
        async for _ in resp.iter_body():
            pass
    assert since(started) == pytest.approx(60, abs=0.01)
    await server.wait_for(lambda: server.open == 0)
    assert client.pool_stats()[0].connections == 0


@pytest.mark.virtual_time
async def test_total_timeout_before_headers(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(stall)
    started = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamTimeout, match="total"):
        await client.send(req(server), Timeouts(first_byte=30.0, total=10.0))
    assert since(started) == pytest.approx(10, abs=0.01)
    await assert_released(client, server)


async def test_backpressure_pauses_reading_until_the_consumer_drains(
    serve: Serve, client: UpstreamClient
) -> None:
    size = 32 * 1024 * 1024  # more than loopback socket buffers hold
    piece = bytes(range(256)) * 256  # 64 KiB

    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // len(piece)):
            await conn.write(piece)
        await conn.reader.read()

    server = await serve(handler)
    resp = await client.send(req(server), FAST)
    conn = resp._conn
    assert conn is not None
    async with asyncio.timeout(3):
        # Polls a condition (no callback reports it); the time spent is not what is tested.
        while not reading_paused(conn):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    # Nothing more is read while paused: the queue stays near the high-water mark.
    for _ in range(20):
        await asyncio.sleep(0)
    assert resp._buffered <= HIGH_WATER + 256 * 1024
    chunks = [chunk async for chunk in resp.iter_body()]
    assert b"".join(chunks) == piece * (size // len(piece))
    assert not resp._conn  # body done: the connection is back in the pool, reading again
    assert not reading_paused(conn)
    assert client.pool_stats()[0].idle == 1


async def test_cancelled_send_closes_the_connection_and_frees_the_slot(
    serve: Serve, client: UpstreamClient
) -> None:
    server = await serve(stall)
    task = asyncio.create_task(client.send(req(server), FAST))
    await server.wait_for(lambda: len(server.requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_released(client, server)


async def test_cancelled_stream_closes_the_connection_and_frees_the_slot(
    serve: Serve, client: UpstreamClient
) -> None:
    server = await serve(stream_then_stall)
    resp = await client.send(req(server), FAST)

    async def consume() -> None:
        async for _ in resp.iter_body():
            pass

    task = asyncio.create_task(consume())
    await server.wait_for(lambda: len(server.requests) == 1)
    for _ in range(5):
        await asyncio.sleep(0)  # let it consume the first chunk and wait for the next
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_released(client, server)


async def test_cancelled_read_closes_the_connection(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(stream_then_stall)
    resp = await client.send(req(server), FAST)
    task = asyncio.create_task(resp.read())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_released(client, server)


async def test_cancelled_pool_waiter_leaves_no_trace(serve: Serve) -> None:
    server = await serve(stall)
    client = UpstreamClient(max_connections_per_origin=1)
    try:
        held = asyncio.create_task(client.send(req(server), FAST))
        await server.wait_for(lambda: len(server.requests) == 1)
        queued = asyncio.create_task(client.send(req(server), FAST))
        await asyncio.sleep(0)
        assert client.pool_stats()[0].waiting == 1
        queued.cancel()
        held.cancel()
        for task in (queued, held):
            with pytest.raises(asyncio.CancelledError):
                await task
        await assert_released(client, server)
    finally:
        await client.aclose()


async def test_a_slow_consumer_is_not_an_idle_upstream(
    serve: Serve, client: UpstreamClient
) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (4 * HIGH_WATER))
        await conn.write(b"x" * 2 * HIGH_WATER)
        await conn.reader.read()

    server = await serve(handler)
    resp = await client.send(req(server), Timeouts(idle=60.0))
    conn = resp._conn
    assert conn is not None
    async with asyncio.timeout(3):
        while not reading_paused(conn):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    # Fire the timer as if the idle timeout had long passed while the consumer was not reading.
    conn._cancel_timer()
    conn._last_activity -= 120.0
    conn._on_timer()
    assert resp._error is None
    # Once reading resumes, the upstream is on the idle clock again.
    body = resp.iter_body()
    await anext(body)
    timer = conn._timer
    assert timer is not None
    # uvloop's loop.time() is cached per iteration and may trail the time the timer was set
    # with; a second of slack still tells the idle clock (60 s) from the 120 s we faked.
    assert timer.when() <= asyncio.get_running_loop().time() + 61.0
    conn._cancel_timer()
    conn._last_activity -= 120.0
    conn._on_timer()
    with pytest.raises(UpstreamTimeout, match="idle"):
        async for _ in body:
            pass


async def test_a_stream_past_max_stream_bytes_is_cut_and_its_connection_closed(
    serve: Serve,
) -> None:
    async def endless(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(HEAD_CHUNKED)
        while True:  # bounded by the client hanging up: the write then fails
            await conn.write(b"400\r\n" + b"x" * 1024 + b"\r\n")

    server = await serve(endless)
    client = UpstreamClient(max_stream_bytes=64 * 1024)
    try:
        resp = await client.send(req(server), FAST)
        received = 0
        with pytest.raises(UpstreamProtocolError, match=r"server\.upstream\.max_stream_bytes"):
            async for data in resp.iter_body():
                received += len(data)
        assert received <= 64 * 1024
        await assert_released(client, server)
    finally:
        await client.aclose()
