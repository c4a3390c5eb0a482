"""Keep-alive reuse, the limits of a pool, and when a connection must not be reused."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from upstream_server import FAST, OK, Handler, RawServer, ServerConn, answer, stall

from lockgate.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout
from lockgate.upstream import PoolStats, Timeouts, UpstreamClient, UpstreamRequest

Serve = Callable[[Handler], Awaitable[RawServer]]


def get(server: RawServer) -> UpstreamRequest:
    return UpstreamRequest("GET", server.url("/v1/models"), [])


async def fetch(client: UpstreamClient, server: RawServer) -> bytes:
    resp = await client.send(get(server), FAST)
    return await resp.read()


async def test_sequential_requests_share_one_connection(
    serve: Serve, client: UpstreamClient
) -> None:
    server = await serve(answer())
    for _ in range(5):
        assert await fetch(client, server) == b"ok"
    assert (server.connections, len(server.requests)) == (1, 5)
    assert client.pool_stats() == [PoolStats(f"http://127.0.0.1:{server.port}", 1, 1, 0)]


async def test_idle_connections_are_reused_last_in_first_out(
    serve: Serve, client: UpstreamClient
) -> None:
    release = [asyncio.Event(), asyncio.Event()]

    async def handler(conn: ServerConn) -> None:
        while await conn.read_request() is not None:
            if conn.index <= 2 and len(server.requests) <= 2:
                await release[conn.index - 1].wait()
            body = b"%d" % conn.index
            await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + body)

    server = await serve(handler)
    tasks = [asyncio.create_task(fetch(client, server)) for _ in range(2)]
    await server.wait_for(lambda: len(server.requests) == 2)
    release[1].set()
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    assert [t.result() for t in done] == [b"2"]
    release[0].set()
    assert sorted(await asyncio.gather(*tasks)) == [b"1", b"2"]
    # Connection 1 went back to the pool last, so it is the one reused.
    assert await fetch(client, server) == b"1"


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
)
async def test_connection_close_is_not_reused(
    serve: Serve, client: UpstreamClient, response: bytes
) -> None:
    server = await serve(answer(response))
    for _ in range(2):
        assert await fetch(client, server) == b"ok"
    assert server.connections == 2
    assert client.pool_stats()[0].connections == 0


async def test_http10_keep_alive_is_reused(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(
        answer(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
    )
    for _ in range(2):
        assert await fetch(client, server) == b"ok"
    assert server.connections == 1


async def test_unread_body_is_not_reused(serve: Serve, client: UpstreamClient) -> None:
    async def handler(conn: ServerConn) -> None:
        while await conn.read_request() is not None:
            await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    server = await serve(handler)
    resp = await client.send(get(server), FAST)
    await resp.aclose()
    await resp.aclose()  # idempotent
    await server.wait_for(lambda: server.eofs == 1)
    assert client.pool_stats()[0].connections == 0
    with pytest.raises(UpstreamProtocolError):
        await resp.read()


async def test_stale_connection_is_retried_once_on_a_new_connection(
    serve: Serve, client: UpstreamClient
) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(OK)
        if conn.index == 1:
            # Simulates the race where the upstream's idle timeout closes the connection
            # just as the next request is written on it.
            await conn.read_request()
            conn.close()
            return
        while await conn.read_request() is not None:
            await conn.write(OK)

    server = await serve(handler)
    assert await fetch(client, server) == b"ok"
    assert await fetch(client, server) == b"ok"
    assert server.connections == 2
    assert client.pool_stats()[0].connections == 1


async def test_stale_retry_happens_only_once(serve: Serve, client: UpstreamClient) -> None:
    async def handler(conn: ServerConn) -> None:
        if conn.index == 1:
            await conn.read_request()
            await conn.write(OK)
        await conn.read_request()
        conn.close()

    server = await serve(handler)
    assert await fetch(client, server) == b"ok"
    with pytest.raises(UpstreamConnectError):
        await fetch(client, server)
    assert server.connections == 2
    assert client.pool_stats()[0].connections == 0


async def test_partial_response_on_a_reused_connection_is_not_retried(
    serve: Serve, client: UpstreamClient
) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(OK)
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200")
        conn.close()

    server = await serve(handler)
    assert await fetch(client, server) == b"ok"
    with pytest.raises(UpstreamProtocolError):
        await fetch(client, server)
    assert server.connections == 1


@pytest.mark.parametrize("kwargs", [{"idle_ttl": 0.0}, {"max_idle_per_origin": 0}])
async def test_idle_limits_drop_connections(serve: Serve, kwargs: dict[str, float]) -> None:
    server = await serve(answer())
    client = UpstreamClient(**kwargs)  # type: ignore[arg-type]
    try:
        for _ in range(2):
            assert await fetch(client, server) == b"ok"
        assert server.connections == 2
        await server.wait_for(lambda: server.eofs >= 1)
    finally:
        await client.aclose()


async def test_max_connections_bounds_concurrency(serve: Serve) -> None:
    gate = asyncio.Event()

    async def handler(conn: ServerConn) -> None:
        while await conn.read_request() is not None:
            await gate.wait()
            await conn.write(OK)

    server = await serve(handler)
    client = UpstreamClient(max_connections_per_origin=2)
    try:
        tasks = [asyncio.create_task(fetch(client, server)) for _ in range(6)]
        await server.wait_for(lambda: len(server.requests) == 2)
        assert client.pool_stats()[0].waiting == 4
        gate.set()
        assert await asyncio.gather(*tasks) == [b"ok"] * 6
        assert (server.connections, server.max_open) == (2, 2)
        assert client.pool_stats()[0].waiting == 0
    finally:
        await client.aclose()


@pytest.mark.virtual_time
async def test_waiting_for_a_slot_is_bounded_by_the_connect_timeout(serve: Serve) -> None:
    server = await serve(stall)
    client = UpstreamClient(max_connections_per_origin=1)
    loop = asyncio.get_running_loop()
    try:
        held = asyncio.create_task(client.send(get(server), Timeouts()))
        await server.wait_for(lambda: len(server.requests) == 1)
        started = loop.time()
        with pytest.raises(UpstreamTimeout, match=r"pool, 5\.0s"):
            await client.send(get(server), Timeouts(connect=5.0))
        assert loop.time() - started == pytest.approx(5, abs=0.01)
        assert client.pool_stats()[0].waiting == 0
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        assert client.pool_stats()[0].connections == 0
    finally:
        await client.aclose()


async def test_client_aclose_closes_idle_and_in_flight(serve: Serve) -> None:
    server = await serve(answer())
    stalled = await serve(stall)
    client = UpstreamClient()
    assert await fetch(client, server) == b"ok"
    in_flight = asyncio.create_task(client.send(get(stalled), FAST))
    await stalled.wait_for(lambda: len(stalled.requests) == 1)
    await client.aclose()
    with pytest.raises(UpstreamConnectError, match="closed"):
        await in_flight
    await server.wait_for(lambda: server.eofs == 1)
    await stalled.wait_for(lambda: stalled.eofs == 1)
    assert [s.connections for s in client.pool_stats()] == [0, 0]
    with pytest.raises(UpstreamConnectError):
        await client.send(get(server), FAST)


async def test_client_aclose_fails_queued_requests_without_connecting(serve: Serve) -> None:
    server = await serve(stall)
    client = UpstreamClient(max_connections_per_origin=1)
    held = asyncio.create_task(client.send(get(server), FAST))
    await server.wait_for(lambda: len(server.requests) == 1)
    queued = asyncio.create_task(client.send(get(server), FAST))
    await asyncio.sleep(0)
    assert client.pool_stats()[0].waiting == 1
    await client.aclose()
    for task in (held, queued):
        with pytest.raises(UpstreamConnectError, match="closed"):
            await task
    await server.wait_for(lambda: server.eofs == 1)
    assert server.connections == 1
    assert client.pool_stats()[0].connections == 0
