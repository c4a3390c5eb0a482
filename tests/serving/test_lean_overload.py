"""LeanServer under overload: connection caps, the in-flight cap and loop lag shed with 503."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import orjson
from lean_helpers import connect, echo, read_response, serving
from test_lean_flow import connection

from lockgate.serving import ServerLimits
from lockgate.serving.context import RequestIds
from lockgate.serving.overload import Overload

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def error_of(headers: dict[bytes, bytes], body: bytes) -> dict[str, Any]:
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"x-request-id"].startswith(b"req_")
    error: dict[str, Any] = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "code", "param"}
    return error


async def test_requests_past_max_in_flight_get_503_and_the_server_recovers() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/hold":
            entered.set()
            await release.wait()
        await echo(scope, receive, send)

    async with serving(app, limits=ServerLimits(max_in_flight=1, retry_after=3)) as server:
        held_reader, held_writer = await connect(server.bound_port)
        held_writer.write(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.wait_for(entered.wait(), 5)
        reader, writer = await connect(server.bound_port)
        writer.write(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        status, headers, body = await read_response(reader)
        assert status == b"HTTP/1.1 503 Service Unavailable"
        assert headers[b"retry-after"] == b"3" and b"connection" not in headers
        error = error_of(headers, body)
        assert error["code"] == "overloaded" and "server.limits.max_in_flight" in error["message"]
        release.set()
        assert (await read_response(held_reader))[0] == b"HTTP/1.1 200 OK"
        # The connection was kept (the unread body discarded) and the next request is served.
        writer.write(GET)
        assert (await read_response(reader))[0] == b"HTTP/1.1 200 OK"
        writer.close()
        held_writer.close()


async def test_connections_past_max_connections_get_503_at_once() -> None:
    async with serving(echo, limits=ServerLimits(max_connections=1)) as server:
        first_reader, first_writer = await connect(server.bound_port)
        first_writer.write(GET)
        assert (await read_response(first_reader))[0] == b"HTTP/1.1 200 OK"
        reader, writer = await connect(server.bound_port)  # sends nothing: answered anyway
        status, headers, body = await read_response(reader)
        assert status == b"HTTP/1.1 503 Service Unavailable"
        assert headers[b"connection"] == b"close" and headers[b"retry-after"] == b"1"
        assert "server.limits.max_connections" in error_of(headers, body)["message"]
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        first_writer.close()
        await first_writer.wait_closed()
        for _ in range(100):  # the slot frees once the server sees the close
            reader, writer = await connect(server.bound_port)
            writer.write(GET)
            status, _, _ = await read_response(reader)
            writer.close()
            if status == b"HTTP/1.1 200 OK":
                break
            await asyncio.sleep(0.01)
        assert status == b"HTTP/1.1 200 OK"


async def test_connections_past_max_connections_per_ip_get_503() -> None:
    async with serving(echo, limits=ServerLimits(max_connections_per_ip=2)) as server:
        opened = [await connect(server.bound_port) for _ in range(2)]
        for reader, writer in opened:
            writer.write(GET)
            assert (await read_response(reader))[0] == b"HTTP/1.1 200 OK"
        reader, writer = await connect(server.bound_port)
        writer.write(GET)
        status, headers, body = await read_response(reader)
        assert status == b"HTTP/1.1 503 Service Unavailable"
        message = error_of(headers, body)["message"]
        assert "server.limits.max_connections_per_ip" in message and "127.0.0.1" in message
        for _, w in [*opened, (reader, writer)]:
            w.close()


async def test_max_requests_per_connection_closes_after_the_last_one() -> None:
    async with serving(echo, limits=ServerLimits(max_requests_per_connection=2)) as server:
        reader, writer = await connect(server.bound_port)
        writer.write(GET)
        _, headers, _ = await read_response(reader)
        assert b"connection" not in headers
        writer.write(GET)
        status, headers, _ = await read_response(reader)
        assert status == b"HTTP/1.1 200 OK" and headers[b"connection"] == b"close"
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_a_lagging_loop_sheds_new_requests_until_it_catches_up() -> None:
    conn, spy = connection(echo, ServerLimits(max_loop_lag=0.2))
    overload = conn.ctx.overload
    overload.observe(0.75)
    assert not overload.lagging  # one late sample: a stall that is over, not overload
    overload.observe(0.75)
    conn.data_received(GET)
    assert conn.task is None  # shed without an app task, by a callback of the next turn
    await asyncio.sleep(0)
    head, body = b"".join(spy.writes).split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"\r\nretry-after: 1" in head and b"connection" not in head  # the connection stays
    assert conn.active is None and not conn.closed
    message = orjson.loads(body)["error"]["message"]
    assert "lags 0.75 s" in message and "server.limits.max_loop_lag" in message
    overload.observe(0.01)
    spy.writes.clear()
    conn.data_received(GET)
    await asyncio.wait_for(conn.task, 5)  # type: ignore[arg-type]
    assert b"".join(spy.writes).startswith(b"HTTP/1.1 200 OK")
    assert overload.in_flight == 0 and overload.shed == 1
    conn.connection_lost(None)
    assert overload.connections == 0


class FakeLoop:
    """Just the clock and timers the lag watch uses, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> Any:
        self.timers.append((when, callback))
        return asyncio.get_running_loop().call_later(3600, lambda: None)


async def test_lag_watch_measures_how_late_its_timer_fires() -> None:
    loop = FakeLoop()
    overload = Overload(loop, ServerLimits(max_loop_lag=0.5), RequestIds())  # type: ignore[arg-type]
    overload.start()
    for late in (0.6, 0.7):  # the loop was busy past two ticks in a row
        due, tick = loop.timers[-1]
        loop.now = due + late
        tick()
    assert overload.lagging and abs(overload.lag - 0.7) < 1e-9
    due, tick = loop.timers[-1]
    loop.now = due + 0.01
    tick()
    assert not overload.lagging
    due, tick = loop.timers[-1]
    loop.now = due + 5.0  # one long stall alone does not shed
    tick()
    assert not overload.lagging
    overload.stop()


async def test_lag_watch_is_off_with_max_loop_lag_zero() -> None:
    loop = FakeLoop()
    overload = Overload(loop, ServerLimits(max_loop_lag=0), RequestIds())  # type: ignore[arg-type]
    overload.start()
    assert loop.timers == []


async def test_shed_requests_are_freed_by_reference_counting() -> None:
    conn, spy = connection(echo, ServerLimits(max_loop_lag=0.2))
    conn.ctx.overload.observe(1.0)
    conn.ctx.overload.observe(1.0)
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            conn.data_received(GET)
            await asyncio.sleep(0)
        found = gc.collect()
    finally:
        gc.enable()
    assert len(spy.writes) == 50 and found < 5
    conn.connection_lost(None)
