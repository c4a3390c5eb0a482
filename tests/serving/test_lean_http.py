"""LeanServer's HTTP/1.1 handling: framing, keep-alive, pipelining, hostile inputs, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from lean_helpers import connect, echo, read_all, read_response, serving

from lockgate.serving import ServerLimits
from lockgate.serving.context import ON_DISCONNECT


async def test_get_and_post_with_length_and_chunked_bodies() -> None:
    async with serving(echo) as server, httpx.AsyncClient() as c:
        base = f"http://127.0.0.1:{server.bound_port}"
        r = await c.get(base + "/a%20b/%C3%A9?x=1&y=%20")
        assert r.json()["path"] == "/a b/é" and r.json()["raw_path"] == "/a%20b/%C3%A9"
        assert r.json()["query"] == "x=1&y=%20"
        assert r.headers["server"] == "lockgate" and "date" in r.headers
        assert r.headers["content-length"] == str(len(r.content))
        r = await c.post(base + "/p", content=b"hello")
        assert r.json()["body"] == "hello" and r.json()["method"] == "POST"

        async def parts() -> AsyncIterator[bytes]:
            for part in (b"he", b"ll", b"o!"):
                yield part

        r = await c.post(base + "/p", content=parts())  # no length: sent chunked
        assert r.json()["body"] == "hello!"


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with serving(echo) as server:
        reader, writer = await connect(server.bound_port)
        for i in range(3):
            writer.write(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
            status, headers, body = await read_response(reader)
            assert status == b"HTTP/1.1 200 OK" and b"connection" not in headers
            assert orjson.loads(body)["path"] == f"/{i}"
        writer.close()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serving(echo) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(
            b"POST /1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
            b"POST /2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
            b"GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        seen = [orjson.loads((await read_response(reader))[2]) for _ in range(3)]
        assert [(s["path"], s["body"]) for s in seen] == [("/1", "abc"), ("/2", "de"), ("/3", "")]
        assert await reader.read() == b""  # closed after the Connection: close request
        writer.close()


async def test_http10_closes_unless_keep_alive_is_asked() -> None:
    async with serving(echo) as server:
        out = await read_all(server.bound_port, b"GET / HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK") and b"connection: close\r\n" in out
        reader, writer = await connect(server.bound_port)
        writer.write(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        _, headers, body = await read_response(reader)
        assert headers[b"connection"] == b"keep-alive" and orjson.loads(body)["version"] == "1.0"
        writer.write(b"GET /again HTTP/1.0\r\n\r\n")
        assert orjson.loads((await read_response(reader))[2])["path"] == "/again"
        writer.close()


async def test_head_sends_the_length_but_no_body() -> None:
    async with serving(echo) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\nGET /g HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"content-length: " in head
        _, _, body = await read_response(reader)  # the next bytes are the GET's response
        assert orjson.loads(body)["path"] == "/g"
        writer.close()


async def test_expect_100_continue_is_answered_when_the_app_reads() -> None:
    async with serving(echo) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == (
            b"HTTP/1.1 100 Continue\r\n\r\n"
        )
        writer.write(b"body")
        assert orjson.loads((await read_response(reader))[2])["body"] == "body"
        writer.close()


HOSTILE = [
    (b"\x00\x01\x02 nonsense\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3x\r\n\r\nabc", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: t\n\n", 400),  # bare LF
    (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    # Only a lone "chunked" frames a body unambiguously.
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: x-custom\r\n\r\n", 501),
]


@pytest.mark.parametrize(("request_bytes", "status"), HOSTILE)
async def test_hostile_requests_are_refused_and_closed(request_bytes: bytes, status: int) -> None:
    called = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)
        await echo(scope, receive, send)

    async with serving(app) as server:
        out = await read_all(server.bound_port, request_bytes)
    assert out.startswith(b"HTTP/1.1 %d " % status), out[:80]
    assert b"connection: close" in out
    assert called == []
    # In the OpenAI error envelope, with a request id, like the gateway's own routes.
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"content-type: application/json\r\n" in head and b"x-request-id: req_" in head
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "code", "param"} and error["message"]
    if any(b"Encoding: " + c in request_bytes for c in (b"identity", b"gzip", b"foo", b"x-")):
        assert "Transfer-Encoding" in error["message"]  # what was wrong, not just "invalid"


async def test_broken_chunked_body_is_refused_while_the_app_reads_it() -> None:
    async with serving(echo) as server:
        out = await read_all(
            server.bound_port,
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n",
        )
    assert out.startswith(b"HTTP/1.1 400 Bad Request") and out.count(b"HTTP/1.1 ") == 1


async def test_smuggled_request_after_a_good_one_is_never_served() -> None:
    paths = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        paths.append(scope["path"])
        await echo(scope, receive, send)

    async with serving(app) as server:
        out = await read_all(
            server.bound_port,
            b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        )
    assert paths == ["/ok"]
    assert out.count(b"HTTP/1.1 200 OK") == 1 and b"HTTP/1.1 400 Bad Request" in out


async def test_header_growing_without_end_is_cut_at_the_limit() -> None:
    limits = ServerLimits(max_header_bytes=4096)
    async with serving(echo, limits=limits) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        for _ in range(10):
            writer.write(b"a" * 1000)  # never terminated: httptools would buffer it forever
        out = await asyncio.wait_for(reader.read(), 5)
        assert out.startswith(b"HTTP/1.1 431 ")
        writer.close()


# On the virtual clock (tests/virtual_time.py) the default timeouts are used as they are and
# the moment a connection closes is exact, whatever the load on the machine.


@pytest.mark.virtual_time
async def test_slow_loris_is_closed_after_header_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with serving(echo) as server:  # header_timeout: 10 s
        reader, writer = await connect(server.bound_port)
        started = loop.time()
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n")
        for _ in range(4):  # a header line every 2 s never completes the head
            await asyncio.sleep(2)
            writer.write(b"X-Drip: 1\r\n")
        assert await asyncio.wait_for(reader.read(), 60) == b""
        assert loop.time() - started == pytest.approx(10, abs=0.2)
        writer.close()
        # A connection that never sends a byte is closed too.
        reader, writer = await connect(server.bound_port)
        started = loop.time()
        assert await asyncio.wait_for(reader.read(), 60) == b""
        assert loop.time() - started == pytest.approx(10, abs=0.2)
        writer.close()


@pytest.mark.virtual_time
async def test_idle_keep_alive_connection_is_closed_after_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with serving(echo) as server:  # keepalive_timeout: 75 s
        reader, writer = await connect(server.bound_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await read_response(reader)
        answered = loop.time()
        assert await asyncio.wait_for(reader.read(), 300) == b""
        assert loop.time() - answered == pytest.approx(75, abs=0.2)
        writer.close()


async def test_streaming_response_is_chunked_and_incremental() -> None:
    go_on = asyncio.Event()

    async def sse(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await go_on.wait()  # the client must have the first event before the second exists
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async with serving(sse) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(b"GET /s HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"transfer-encoding: chunked\r\n" in head and b"content-length" not in head
        first = b"9\r\ndata: 1\n\n\r\n"
        assert await asyncio.wait_for(reader.readexactly(len(first)), 5) == first
        go_on.set()
        rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
        assert rest == b"9\r\ndata: 2\n\n\r\n0\r\n\r\n"
        writer.close()


async def test_response_splitting_is_refused() -> None:
    async def evil(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"x-ok", b"fine\r\nset-cookie: evil=1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hi"})

    async with serving(evil) as server:
        out = await read_all(server.bound_port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error")
    assert b"evil" not in out and b"fine" not in out


@pytest.mark.parametrize("started", [False, True])
async def test_app_errors_give_500_or_a_closed_connection(started: bool) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        if started:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise ValueError("boom")

    async with serving(broken) as server:
        out = await read_all(server.bound_port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    if started:
        assert out.startswith(b"HTTP/1.1 200 OK") and not out.endswith(b"0\r\n\r\n")
    else:
        assert out.startswith(b"HTTP/1.1 500 Internal Server Error")


async def test_client_disconnect_mid_stream_cancels_the_work() -> None:
    """The Lockgate pattern: the work runs while a watcher awaits receive() for a disconnect."""
    seen: list[str] = []
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.request"

        async def work() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            try:
                while True:
                    await send({"type": "http.response.body", "body": b"x", "more_body": True})
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        task = asyncio.create_task(work())
        seen.append((await receive())["type"])
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        done.set()

    await hang_up_mid_stream(app, done)
    assert seen == ["http.disconnect", "cancelled"]


async def test_receive_reports_disconnect_once_the_response_is_complete() -> None:
    after: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        watcher = asyncio.create_task(receive())
        await asyncio.sleep(0)
        assert not watcher.done()  # the request is still going on: receive() waits
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        after.append((await asyncio.wait_for(watcher, 1))["type"])

    async with serving(app) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, _ = await read_response(reader)
        assert status == b"HTTP/1.1 204 No Content" and b"content-length" not in headers
        writer.close()
    assert after == ["http.disconnect"]


async def test_on_disconnect_extension_reports_a_client_gone_mid_response() -> None:
    """What Lockgate's data plane uses instead of a watcher task per request."""
    seen: list[str] = []
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.request"
        task = asyncio.current_task()
        assert task is not None
        scope["extensions"][ON_DISCONNECT](lambda: (seen.append("lost"), task.cancel()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            seen.append("cancelled")
            done.set()
            raise

    await hang_up_mid_stream(app, done)
    assert seen == ["lost", "cancelled"]


async def test_on_disconnect_is_silent_once_the_response_is_complete() -> None:
    calls: list[str] = []
    finished = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        scope["extensions"][ON_DISCONNECT](lambda: calls.append("lost"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        finished.set()

    async with serving(app) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, _, body = await read_response(reader)
        assert status == b"HTTP/1.1 200 OK" and body == b"ok"
        await asyncio.wait_for(finished.wait(), 5)
        assert await reader.read() == b""  # the server closed: keep-alive was refused
        writer.close()
    assert calls == []


async def test_on_disconnect_withdrawn_or_registered_late() -> None:
    """None withdraws the callback; registering on a closed connection reports at once."""
    calls: list[str] = []
    withdrawn = asyncio.Event()
    closed = asyncio.Event()
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        register = scope["extensions"][ON_DISCONNECT]
        register(lambda: calls.append("withdrawn one"))
        register(None)
        withdrawn.set()
        await closed.wait()
        while (await receive())["type"] != "http.disconnect":
            pass
        register(lambda: calls.append("late"))
        done.set()

    async with serving(app) as server:
        _reader, writer = await connect(server.bound_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.wait_for(withdrawn.wait(), 5)
        writer.close()
        closed.set()
        await asyncio.wait_for(done.wait(), 5)
    assert calls == ["late"]


async def hang_up_mid_stream(app: Any, done: asyncio.Event) -> None:
    """Start a streamed response, close the connection after its first chunk, wait for done."""
    async with serving(app) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"1\r\nx\r\n"), 5)
        writer.close()
        await asyncio.wait_for(done.wait(), 5)
