"""LeanServer as a whole: lifespan, graceful shutdown, and the real gateway behind it."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import openai
import pytest
from lean_helpers import SpyTransport

from lockgate.app import Gateway
from lockgate.config.models import Config
from lockgate.serving import LeanServer, ServerLimits
from lockgate.serving.context import ServerContext
from lockgate.serving.protocol import HttpProtocol


async def start(app: Any, **kwargs: Any) -> tuple[LeanServer, asyncio.Task[None]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = LeanServer(app, host="127.0.0.1", port=0, sock=sock, **kwargs)
    task = asyncio.create_task(server.serve())
    while not server.bound_port:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    return server, task


def lifespan_app(events: list[str], fail: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if fail:
                        await send({"type": "lifespan.startup.failed", "message": "no db"})
                        return
                    scope["state"]["db"] = "conn"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        events.append(f"request with state {scope['state']}")
        await asyncio.sleep(float(scope["query_string"] or 0))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    return app


async def request(port: int, query: bytes = b"") -> tuple[asyncio.StreamReader, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /?%s HTTP/1.1\r\nHost: t\r\n\r\n" % query)
    return reader, writer


async def test_lifespan_runs_around_serving_and_its_state_reaches_requests() -> None:
    events: list[str] = []
    server, task = await start(lifespan_app(events))
    reader, writer = await request(server.bound_port)
    assert (await asyncio.wait_for(reader.readuntil(b"done"), 5)).startswith(b"HTTP/1.1 200")
    writer.close()
    server.request_shutdown()
    await asyncio.wait_for(task, 5)
    assert events == [
        "lifespan.startup",
        "request with state {'db': 'conn'}",
        "lifespan.shutdown",
    ]


async def test_lifespan_startup_failure_raises() -> None:
    server = LeanServer(lifespan_app([], fail=True), host="127.0.0.1", port=0)
    with pytest.raises(RuntimeError, match="no db"):
        await asyncio.wait_for(server.serve(), 5)


async def test_app_without_lifespan_support_is_served() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    server, task = await start(app)
    reader, writer = await request(server.bound_port)
    assert (await asyncio.wait_for(reader.readuntil(b"done"), 5)).startswith(b"HTTP/1.1 200")
    writer.close()
    server.request_shutdown()
    await asyncio.wait_for(task, 5)


@pytest.mark.virtual_time
async def test_graceful_shutdown_finishes_in_flight_and_closes_idle() -> None:
    events: list[str] = []
    loop = asyncio.get_running_loop()
    server, task = await start(lifespan_app(events), graceful_timeout=30)
    idle_reader, idle_writer = await request(server.bound_port)
    await asyncio.wait_for(idle_reader.readuntil(b"done"), 5)  # now an idle keep-alive conn
    busy_reader, busy_writer = await request(server.bound_port, b"10")  # a 10 s request
    await asyncio.sleep(1)  # the slow request is in flight
    server.request_shutdown()
    asked = loop.time()
    assert await asyncio.wait_for(idle_reader.read(), 60) == b""
    assert loop.time() == asked  # idle connections close at once
    out = await asyncio.wait_for(busy_reader.read(), 60)
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"done")
    assert b"connection: close\r\n" in out
    assert loop.time() - asked == pytest.approx(9, abs=0.2)  # when it finished, not sooner
    await asyncio.wait_for(task, 60)
    assert events[-1] == "lifespan.shutdown"
    idle_writer.close()
    busy_writer.close()


@pytest.mark.virtual_time
async def test_graceful_timeout_cancels_what_is_left() -> None:
    events: list[str] = []
    loop = asyncio.get_running_loop()
    server, task = await start(lifespan_app(events), graceful_timeout=5)
    reader, writer = await request(server.bound_port, b"600")
    await asyncio.sleep(1)
    server.request_shutdown()
    asked = loop.time()
    await asyncio.wait_for(task, 60)
    assert loop.time() - asked == pytest.approx(5, abs=0.2)
    assert await asyncio.wait_for(reader.read(), 1) == b""
    assert events[-1] == "lifespan.shutdown"
    writer.close()


def _config(tmp_path: Path) -> Config:
    return Config.model_validate(
        {
            "version": 1,
            "storage": f"sqlite:///{tmp_path / 'lean.db'}",
            "state": "memory",
            "server": {"max_body_bytes": 4096},
            "providers": {"demo": {"type": "mock"}},
            "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
        }
    )


def _openai_calls(base_url: str, secret: str) -> dict[str, Any]:
    client = openai.OpenAI(base_url=base_url, api_key=secret, max_retries=0, timeout=10)
    messages: Any = [{"role": "user", "content": "hello"}]
    out: dict[str, Any] = {}
    reply = client.chat.completions.create(model="m", messages=messages)
    out["content"] = reply.choices[0].message.content
    stream = client.chat.completions.create(model="m", messages=messages, stream=True)
    out["streamed"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    try:
        big: Any = [{"role": "user", "content": "x" * 10_000}]
        client.chat.completions.create(model="m", messages=big)
    except openai.APIStatusError as err:
        out["oversized"] = err.status_code
    anonymous = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0, timeout=10)
    try:
        anonymous.chat.completions.create(model="m", messages=messages)
    except openai.APIStatusError as err:
        out["no_key"] = err.status_code
    return out


async def test_gateway_behind_lean_server_answers_the_openai_sdk(tmp_path: Path) -> None:
    gw = Gateway(_config(tmp_path))
    server, task = await start(gw)
    try:
        gw.store.create_tenant("acme")
        secret = gw.store.create_key(gw.store.create_app("acme", "bot").id).secret
        await gw.refresher.refresh_now()
        base = f"http://127.0.0.1:{server.bound_port}/v1"
        out = await asyncio.to_thread(_openai_calls, base, secret)
    finally:
        server.request_shutdown()
        await asyncio.wait_for(task, 10)
    assert out["content"] and out["streamed"]
    assert out["oversized"] == 413 and out["no_key"] == 401


async def test_head_and_body_go_out_in_one_write() -> None:
    ctx = ServerContext(lifespan_app([]), asyncio.get_running_loop(), ServerLimits())
    ctx.date_server = b"date: now\r\nserver: lockgate\r\n"
    conn = HttpProtocol(ctx)
    spy = SpyTransport()
    conn.connection_made(spy)
    conn.data_received(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
    assert conn.task is not None
    await conn.task
    assert len(spy.writes) == 1
    assert spy.writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and spy.writes[0].endswith(b"done")
    conn.connection_lost(None)
