"""The gateway behind the lean server: requests are freed by reference counting.

A reference cycle per request (a traceback kept on the request context, a scope pointing back
at its request cycle) leaves every request's task, buffers and context to the cyclic
collector: more CPU per request and memory that grows between collections. With the collector
off, a few hundred requests of each kind must leave next to nothing for it to find.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from lean_helpers import connect, read_response, serving

from lockgate.app import Gateway
from lockgate.config.models import Config

ADMIN = "lga-test-" + "k" * 32
REQUESTS = 300


@pytest.fixture
async def gateway_port(tmp_path: Path) -> AsyncIterator[tuple[int, str]]:
    config = Config.model_validate(
        {
            "version": 1,
            "server": {"admin_keys": [ADMIN]},
            "storage": f"sqlite:///{tmp_path / 'gc.db'}",
            "providers": {"demo": {"type": "mock"}},
            "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
        }
    )
    gw = Gateway(config)
    await gw.startup()
    try:
        async with serving(gw) as server:
            base = f"http://127.0.0.1:{server.bound_port}/admin/v1"
            auth = {"authorization": f"Bearer {ADMIN}"}
            async with httpx.AsyncClient(base_url=base, headers=auth) as admin:
                (await admin.post("/tenants", json={"name": "t"})).raise_for_status()
                app = (await admin.post("/tenants/t/apps", json={"name": "a"})).json()
                key = (await admin.post(f"/apps/{app['id']}/keys", json={})).json()["key"]
            yield server.bound_port, key
    finally:
        await gw.shutdown()


def _request(key: str, body: bytes, method: str = "POST") -> bytes:
    return (
        f"{method} /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _chat(model: str, **extra: object) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], **extra})


CASES = {
    "completion": (200, _chat("m"), "POST", True),
    "stream": (200, _chat("m", stream=True), "POST", True),
    "unknown model": (404, _chat("nope"), "POST", True),
    "malformed JSON": (400, b"{nope", "POST", True),
    "wrong field type": (
        400,
        b'{"model":"m","messages":[{"role":"user","content":5}]}',
        "POST",
        True,
    ),
    "unknown key": (401, _chat("m"), "POST", False),
    "wrong method": (405, b"", "GET", True),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_requests_leave_no_cyclic_garbage(gateway_port: tuple[int, str], case: str) -> None:
    port, key = gateway_port
    status, body, method, good_key = CASES[case]
    request = _request(key if good_key else "lg-unknown", body, method)
    reader, writer = await connect(port)
    try:
        for _ in range(20):  # warm-up: caches, pools and lazily built objects settle first
            writer.write(request)
            first, _, _ = await read_response(reader)
        assert first.startswith(b"HTTP/1.1 %d " % status), first
        gc.collect()
        gc.disable()
        try:
            for _ in range(REQUESTS):
                writer.write(request)
                await read_response(reader)
            found = gc.collect()
        finally:
            gc.enable()
    finally:
        writer.close()
    # The cycles this guards against cost ~7-50 objects per request; allow stray noise only.
    assert found < REQUESTS // 10, f"{found} objects left to the cyclic collector"


@pytest.mark.parametrize("path", ["/admin/v1/tenants", "/v1/chat/completions"])
async def test_a_huge_unauthenticated_body_costs_next_to_no_memory(
    gateway_port: tuple[int, str], path: str
) -> None:
    """A 64 MB upload without credentials is answered 401 unread; Python allocates < 4 MB.

    Traced by tracemalloc (the allocations of this process, client and server alike), so the
    bound is exact, not a resident-size estimate. The client re-sends one 64 KiB buffer.
    """
    port, _ = gateway_port
    size = 64 * 1024 * 1024
    head = (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    piece = b"[" * 65536
    reader, writer = await connect(port)
    tracemalloc.start()
    try:
        writer.write(head)
        with contextlib.suppress(ConnectionError):
            for _ in range(size // len(piece)):
                writer.write(piece)
                await asyncio.wait_for(writer.drain(), 5)
        status, headers, body = await read_response(reader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        writer.close()
    assert status == b"HTTP/1.1 401 Unauthorized", body
    assert headers[b"x-request-id"].startswith(b"req_")
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB traced"
