"""LeanServer against slow and greedy clients: stalled bodies, non-readers, unread bodies."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import orjson
import pytest
from lean_helpers import Message, connect, echo, read_all, read_response, serving

from lockgate.serving import ServerLimits

POST_10 = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"


# Timeouts run on the virtual clock (tests/virtual_time.py): default limits, exact moments.


@pytest.mark.virtual_time
async def test_stalled_body_gets_408_and_close() -> None:
    seen: list[Message] = []
    loop = asyncio.get_running_loop()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while not seen or seen[-1].get("more_body"):
            seen.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    async with serving(app) as server:  # body_timeout: 30 s
        started = loop.time()
        out = await read_all(server.bound_port, POST_10 + b"abcde", within=300)  # and then nothing
        assert loop.time() - started == pytest.approx(30, abs=0.2)
    assert out.startswith(b"HTTP/1.1 408 Request Timeout") and b"connection: close" in out
    assert b"late" not in out and b"server.limits.body_timeout" in out
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]


@pytest.mark.virtual_time
async def test_stalled_body_after_the_response_began_just_closes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"early", "more_body": True})
        while (await receive())["type"] == "http.request":
            pass
        await send({"type": "http.response.body", "body": b"never"})

    async with serving(app) as server:
        out = await read_all(server.bound_port, POST_10 + b"abcde", within=300)
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"5\r\nearly\r\n")
    assert b"408" not in out


@pytest.mark.virtual_time
async def test_body_dripped_just_fast_enough_is_cut_at_four_gaps() -> None:
    """Each byte beats body_timeout, but the whole body must come within four of them."""
    loop = asyncio.get_running_loop()
    async with serving(echo) as server:  # body_timeout: 30 s, so the whole body within 120 s
        reader, writer = await connect(server.bound_port)
        started = loop.time()
        writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")

        async def drip() -> None:
            with contextlib.suppress(ConnectionError):
                for _ in range(1000):  # far more than the server may wait for
                    writer.write(b"a")
                    await writer.drain()
                    await asyncio.sleep(20)

        dripping = asyncio.create_task(drip())
        try:
            out = await asyncio.wait_for(reader.read(), 600)
            assert loop.time() - started == pytest.approx(120, abs=0.2)
        finally:
            dripping.cancel()
            writer.close()
    assert out.startswith(b"HTTP/1.1 408 Request Timeout")


@pytest.mark.virtual_time
async def test_client_that_stops_reading_is_dropped_after_send_timeout() -> None:
    """The app streams forever; a disconnect watcher must learn of the drop and cancel it."""
    seen: list[str] = []
    ended = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

        async def work() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            chunk = {"type": "http.response.body", "body": b"x" * 65536, "more_body": True}
            try:
                while True:
                    await send(chunk)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        task = asyncio.create_task(work())
        seen.append((await receive())["type"])
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        ended.set()

    async with serving(app) as server:  # send_timeout: 30 s
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills up fast
        client.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(client, ("127.0.0.1", server.bound_port))
        await loop.sock_sendall(client, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        started = loop.time()
        await asyncio.wait_for(ended.wait(), 300)  # the client has read nothing so far
        assert loop.time() - started == pytest.approx(30, abs=0.2)
        try:
            assert await asyncio.wait_for(_read_to_end(loop, client), 5)
        finally:
            client.close()
    assert seen == ["http.disconnect", "cancelled"]


async def _read_to_end(loop: asyncio.AbstractEventLoop, client: socket.socket) -> bool:
    """Read what the server managed to send; True once it has hung up (EOF or reset)."""
    try:
        while await loop.sock_recv(client, 65536):
            pass
    except ConnectionResetError:
        pass
    return True


async def answer_unread(scope: Any, receive: Any, send: Any) -> None:
    """Refuses without reading the body, naming the path so the next request can be told."""
    body = orjson.dumps({"path": scope["path"]})
    await send({"type": "http.response.start", "status": 413, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_small_unread_body_is_discarded_and_the_connection_kept() -> None:
    limits = ServerLimits(max_discard_bytes=100_000)
    async with serving(answer_unread, limits=limits) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 90000\r\n\r\n")
        status, headers, _ = await read_response(reader)
        assert status == b"HTTP/1.1 413 Request Entity Too Large" and b"connection" not in headers
        writer.write(b"a" * 90_000 + b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        _, _, body = await read_response(reader)
        assert orjson.loads(body) == {"path": "/b"}  # the body was skipped, not parsed
        writer.close()


async def test_unread_body_beyond_max_discard_closes_the_connection() -> None:
    limits = ServerLimits(max_discard_bytes=100_000)
    async with serving(answer_unread, limits=limits) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        status, _, _ = await read_response(reader)
        assert status == b"HTTP/1.1 413 Request Entity Too Large"
        hung_up = False
        try:
            for _ in range(10_000_000 // 65536):  # the whole body, if the server took it all
                writer.write(b"a" * 65536)
                await asyncio.wait_for(writer.drain(), 5)
        except ConnectionError:
            hung_up = True
        if not hung_up:  # every byte fitted in buffers: the close must still come
            with contextlib.suppress(ConnectionError):
                assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


@pytest.mark.virtual_time
async def test_unread_body_that_stalls_is_closed_after_body_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with serving(answer_unread) as server:  # body_timeout 30 s, keepalive_timeout 75 s
        reader, writer = await connect(server.bound_port)
        writer.write(POST_10 + b"abc")
        await read_response(reader)
        answered = loop.time()
        assert await asyncio.wait_for(reader.read(), 300) == b""
        assert loop.time() - answered == pytest.approx(30, abs=0.2)  # not keepalive_timeout
        writer.close()


async def test_answer_before_100_continue_closes_the_connection() -> None:
    async with serving(answer_unread) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"
        )
        status, _, _ = await read_response(reader)
        assert status == b"HTTP/1.1 413 Request Entity Too Large"
        # The client may send the body or not: what would come next cannot be framed.
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


def _upload_then_read(port: int, head: bytes, size: int) -> bytes:
    """What most HTTP clients do: send the whole request, only then read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        chunk = b"a" * 65536
        for _ in range(size // len(chunk)):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while data := s.recv(65536):
            out += data
        return out


async def test_client_uploading_past_max_discard_still_reads_the_answer() -> None:
    """The server lingers (FIN, then reads and drops) instead of resetting mid-upload."""
    limits = ServerLimits(max_discard_bytes=100_000)
    async with serving(answer_unread, limits=limits) as server:
        head = b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 20000000\r\n\r\n"
        out = await asyncio.to_thread(_upload_then_read, server.bound_port, head, 20_000_000)
    assert out.startswith(b"HTTP/1.1 413 Request Entity Too Large")
    assert out.endswith(b'{"path":"/a"}')


async def test_malformed_request_mid_upload_still_gets_its_400() -> None:
    limits = ServerLimits()
    async with serving(echo, limits=limits) as server:
        head = b"POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        out = await asyncio.to_thread(_upload_then_read, server.bound_port, head, 8_000_000)
    assert out.startswith(b"HTTP/1.1 400 Bad Request")


@pytest.mark.virtual_time
@pytest.mark.parametrize(
    ("pause", "every", "ends_after"),
    [
        (6.0, 1.0, 5.0),  # silent for 6 s: dropped after linger_timeout (5 s) of silence
        (0.0, 1.0, 30.0),  # a byte every second: dropped at linger_time (30 s) in all
    ],
)
async def test_lingering_ends_when_the_client_falls_silent_or_at_linger_time(
    pause: float, every: float, ends_after: float
) -> None:
    loop = asyncio.get_running_loop()
    async with serving(answer_unread, limits=ServerLimits(max_discard_bytes=10)) as server:
        client = socket.socket()
        client.setblocking(False)
        # Without it Nagle holds each byte for the server's delayed ACK: real time, which the
        # virtual clock does not wait for.
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(client, ("127.0.0.1", server.bound_port))
        try:
            head = b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 9000\r\n\r\n"
            await loop.sock_sendall(client, head + b"a" * 100)
            started = loop.time()  # the answer is out: the server lingers from here
            await asyncio.sleep(pause)
            # Lingering or not, the server has stopped: writes now fail (reset).
            assert await asyncio.wait_for(_sends_fail(loop, client, every), 300)
            # A write after the server gave up is answered with a reset; the next one fails.
            elapsed = loop.time() - started
            assert ends_after <= elapsed <= max(pause, ends_after) + 2 * every + 0.2
        finally:
            client.close()


async def _sends_fail(loop: asyncio.AbstractEventLoop, client: socket.socket, every: float) -> bool:
    try:
        while True:
            await loop.sock_sendall(client, b"a")
            await asyncio.sleep(every)
    except OSError:
        return True
