"""Framing and error mapping of single exchanges, against servers writing raw bytes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from upstream_server import FAST, OK, Handler, RawServer, ServerConn, answer

from lockgate.errors import UpstreamConnectError, UpstreamProtocolError
from lockgate.upstream import UpstreamClient, UpstreamRequest

Serve = Callable[[Handler], Awaitable[RawServer]]


def post(server: RawServer, body: bytes = b"{}", path: str = "/v1/x") -> UpstreamRequest:
    return UpstreamRequest(
        "POST", server.url(path), [("Authorization", "Bearer sk-secret"), ("X-Mixed", "A")], body
    )


async def test_content_length_body_headers_and_request_bytes(
    serve: Serve, client: UpstreamClient
) -> None:
    raw = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Dup: 1\r\nx-dup: 2\r\n"
    server = await serve(answer(raw + b'Content-Length: 7\r\n\r\n{"a":1}'))
    resp = await client.send(post(server, b"hello", "/v1/x?q=1"), FAST)
    assert resp.status == 201
    assert resp.header("CONTENT-TYPE") == "application/json"
    assert resp.header("x-dup") == "1"
    assert ("x-dup", "2") in resp.headers
    assert resp.header("missing") is None
    assert await resp.read() == b'{"a":1}'
    assert server.requests == [
        b"POST /v1/x?q=1 HTTP/1.1\r\nAuthorization: Bearer sk-secret\r\nX-Mixed: A\r\n"
        b"Host: 127.0.0.1:%d\r\nAccept-Encoding: identity\r\nContent-Length: 5\r\n"
        b"Connection: keep-alive\r\n\r\nhello" % server.port
    ]


async def test_chunked_with_extensions_and_trailers_then_reuse(
    serve: Serve, client: UpstreamClient
) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    server = await serve(answer(chunked))
    for _ in range(2):
        resp = await client.send(post(server), FAST)
        assert await resp.read() == b"hello world"
    assert server.connections == 1


async def test_iter_body_yields_chunks_as_they_arrive(serve: Serve, client: UpstreamClient) -> None:
    go_on = asyncio.Event()

    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\ndata: 1\r\n")
        await go_on.wait()  # the second chunk only exists once the first was consumed
        await conn.write(b"7\r\ndata: 2\r\n0\r\n\r\n")
        await conn.reader.read()

    server = await serve(handler)
    resp = await client.send(post(server), FAST)
    body = resp.iter_body()
    assert await anext(body) == b"data: 1"
    go_on.set()
    assert [chunk async for chunk in body] == [b"data: 2"]


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses_keep_the_connection(
    serve: Serve, client: UpstreamClient, status: int
) -> None:
    server = await serve(answer(b"HTTP/1.1 %d X\r\nETag: e\r\n\r\n" % status))
    for _ in range(2):
        resp = await client.send(post(server), FAST)
        assert resp.status == status
        assert await resp.read() == b""
    assert server.connections == 1


async def test_head_response_has_no_body_and_the_next_exchange_parses(
    serve: Serve, client: UpstreamClient
) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await conn.reader.read()

    server = await serve(handler)
    resp = await client.send(UpstreamRequest("HEAD", server.url(), []), FAST)
    assert resp.header("content-length") == "1000"
    assert await resp.read() == b""
    resp = await client.send(post(server), FAST)
    assert await resp.read() == b"ok"
    assert server.connections == 1


async def test_interim_responses_are_skipped(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(answer(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK))
    resp = await client.send(post(server), FAST)
    assert (resp.status, resp.header("link")) == (200, None)
    assert await resp.read() == b"ok"


async def test_body_until_close_is_read_and_not_reused(
    serve: Serve, client: UpstreamClient
) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\n\r\nuntil ")
        await conn.write(b"close")
        conn.close()

    server = await serve(handler)
    for _ in range(2):
        resp = await client.send(post(server), FAST)
        assert await resp.read() == b"until close"
    assert server.connections == 2
    assert client.pool_stats()[0].connections == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"FOO\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    ],
)
async def test_malformed_responses_are_rejected(
    serve: Serve, client: UpstreamClient, raw: bytes
) -> None:
    server = await serve(answer(raw))
    with pytest.raises(UpstreamProtocolError):
        resp = await client.send(post(server), FAST)
        await resp.read()
    await server.wait_for(lambda: server.eofs == 1)
    assert client.pool_stats()[0].connections == 0


async def test_oversized_headers(serve: Serve) -> None:
    server = await serve(answer(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"))
    many = b"".join(b"X-%d: v\r\n" % i for i in range(300))
    server_many = await serve(answer(b"HTTP/1.1 200 OK\r\n" + many + b"\r\n"))
    client = UpstreamClient(max_header_bytes=1024)
    try:
        for s in (server, server_many):
            with pytest.raises(UpstreamProtocolError, match="exceed 1024 bytes"):
                await client.send(post(s), FAST)
    finally:
        await client.aclose()


async def test_read_limit(serve: Serve, client: UpstreamClient) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 50)
        await conn.reader.read()

    server = await serve(handler)
    resp = await client.send(post(server), FAST)
    with pytest.raises(UpstreamProtocolError, match="exceeds 10 bytes"):
        await resp.read(limit=10)
    assert client.pool_stats()[0].connections == 0
    await server.wait_for(lambda: server.eofs == 1)


async def test_read_limit_not_exceeded(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100))
    resp = await client.send(post(server), FAST)
    assert await resp.read(limit=100) == b"x" * 100


@pytest.mark.parametrize(
    "partial",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Le",
    ],
)
async def test_closed_mid_response(serve: Serve, client: UpstreamClient, partial: bytes) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        await conn.write(partial)
        conn.close()

    server = await serve(handler)
    with pytest.raises(UpstreamProtocolError, match="closed the connection"):
        resp = await client.send(post(server), FAST)
        await resp.read()
    assert client.pool_stats()[0].connections == 0


async def test_closed_before_any_byte_on_a_new_connection_is_not_retried(
    serve: Serve, client: UpstreamClient
) -> None:
    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        conn.close()

    server = await serve(handler)
    with pytest.raises(UpstreamConnectError, match="before sending a response"):
        await client.send(post(server), FAST)
    assert server.connections == 1


async def test_connect_refused(client: UpstreamClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    req = UpstreamRequest("POST", f"http://127.0.0.1:{port}/v1?key=sk-secret", [], b"")
    with pytest.raises(UpstreamConnectError) as info:
        await client.send(req, FAST)
    assert "127.0.0.1" in info.value.message
    assert "sk-secret" not in info.value.message
    assert client.pool_stats()[0].connections == 0


async def test_errors_never_echo_request_headers(serve: Serve, client: UpstreamClient) -> None:
    server = await serve(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"))
    with pytest.raises(UpstreamProtocolError) as info:
        resp = await client.send(post(server), FAST)
        await resp.read(limit=4)
    assert "sk-secret" not in str(info.value)


async def test_invalid_request_is_rejected_before_connecting(
    serve: Serve, client: UpstreamClient
) -> None:
    server = await serve(answer())
    req = UpstreamRequest("POST", server.url(), [("X", "a\r\nTransfer-Encoding: chunked")])
    with pytest.raises(ValueError):
        await client.send(req, FAST)
    with pytest.raises(ValueError):
        await client.send(UpstreamRequest("GET", "ftp://h/", []), FAST)
    assert server.connections == 0
