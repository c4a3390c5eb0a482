"""The gateway behind the lean server, hardened: request ids everywhere, failures after a
stream started, bounded embeddings, and the upstream bounds of server.upstream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from lean_helpers import serving

from lockgate.app import Gateway
from lockgate.config.models import Config
from lockgate.ingress import dataplane
from lockgate.mock import MockBehaviour, create_mock_app
from lockgate.wire import anthropic_stream, formats, openai_stream
from lockgate.wire.types import EmbeddingResponse, Usage

ADMIN = "lga-test-" + "h" * 32
Start = Callable[..., contextlib.AbstractAsyncContextManager[tuple[httpx.AsyncClient, str]]]


@pytest.fixture
def gateway(tmp_path: Path) -> Start:
    """Start a gateway (extra ``server`` settings and models allowed) with a tenant and a key."""

    @contextlib.asynccontextmanager
    async def start(
        server: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        doc: dict[str, Any] = {
            "version": 1,
            "server": {"admin_keys": [ADMIN], **(server or {})},
            "storage": f"sqlite:///{tmp_path / 'h.db'}",
            "providers": {"demo": {"type": "mock"}},
            "models": {
                "m": {"deployments": [{"provider": "demo", "model": "x"}]},
                "e": {"kind": "embedding", "deployments": [{"provider": "demo", "model": "x"}]},
            },
        }
        for section, value in (extra or {}).items():
            doc[section] = {**doc.get(section, {}), **value}
        gw = Gateway(Config.model_validate(doc))
        await gw.startup()
        try:
            async with serving(gw) as srv:
                base = f"http://127.0.0.1:{srv.bound_port}"
                async with httpx.AsyncClient(base_url=base, timeout=10) as c:
                    auth = {"authorization": f"Bearer {ADMIN}"}
                    (await c.post("/admin/v1/tenants", json={"name": "t"}, headers=auth))
                    r = await c.post("/admin/v1/tenants/t/apps", json={"name": "a"}, headers=auth)
                    app_id = r.json()["id"]
                    r = await c.post(f"/admin/v1/apps/{app_id}/keys", json={}, headers=auth)
                    yield c, r.json()["key"]
        finally:
            await gw.shutdown()

    return start


async def test_every_answer_carries_a_request_id(gateway: Start) -> None:
    async with gateway() as (c, _):
        for path, status in [("/healthz", 200), ("/readyz", 200), ("/nope", 404)]:
            r = await c.get(path)
            assert r.status_code == status and r.headers["x-request-id"].startswith("req_"), path
        assert r.json()["error"]["code"] == "unknown_route"
        r = await c.get("/admin/v1/tenants", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200 and r.headers["x-request-id"].startswith("req_")
        r = await c.get("/admin/v1/tenants")
        assert r.status_code == 401 and r.headers["x-request-id"].startswith("req_")
        ids = {(await c.get("/healthz")).headers["x-request-id"] for _ in range(3)}
        assert len(ids) == 3


@pytest.mark.parametrize(
    ("path", "encoder", "event"),
    [
        ("/v1/chat/completions", openai_stream.ChatStreamEncoder, b'data: {"error":'),
        ("/v1/messages", anthropic_stream.ChatStreamEncoder, b"event: error\ndata: "),
    ],
)
async def test_a_crash_mid_stream_ends_it_with_one_error_event_and_one_log_line(
    gateway: Start,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
    encoder: Any,
    event: bytes,
) -> None:
    real = encoder.encode
    calls = 0

    def flaky(self: Any, chunk: Any) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:  # the response has started: a bug in the middle of the stream
            raise TypeError("boom")
        out: bytes = real(self, chunk)
        return out

    monkeypatch.setattr(encoder, "encode", flaky)
    body = {"model": "m", "max_tokens": 50, "stream": True}
    body["messages"] = [{"role": "user", "content": "one two three four five six"}]
    async with gateway() as (c, key):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            headers = {"authorization": f"Bearer {key}", "x-api-key": key}
            async with c.stream("POST", path, json=body, headers=headers) as r:
                assert r.status_code == 200
                raw = b"".join([chunk async for chunk in r.aiter_raw()])  # complete, not cut
    assert raw.count(event) == 1 and raw.rstrip().endswith(b"}")
    assert b"internal error" not in raw and b"the stream failed (request id req_" in raw
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1, [rec.getMessage() for rec in errors]
    assert "the stream failed" in errors[0].getMessage()


async def test_embedding_inputs_are_capped_by_max_embedding_inputs(gateway: Start) -> None:
    async with gateway(server={"max_embedding_inputs": 3}) as (c, key):
        auth = {"authorization": f"Bearer {key}"}
        r = await c.post("/v1/embeddings", json={"model": "e", "input": ["a"] * 3}, headers=auth)
        assert r.status_code == 200 and len(r.json()["data"]) == 3
        r = await c.post("/v1/embeddings", json={"model": "e", "input": ["a"] * 4}, headers=auth)
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["param"] == "input" and "server.max_embedding_inputs" in error["message"]
        assert "4 items" in error["message"] and "at most 3" in error["message"]


async def test_a_large_embedding_response_is_encoded_with_the_loop_free_between_slices() -> None:
    vectors = [[float(i), 0.5, -1.25] for i in range(dataplane.EMBEDDINGS_SLICE * 4 + 7)]
    resp = EmbeddingResponse(model="e", vectors=vectors, usage=Usage(input_tokens=9))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    running = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        for fmt in ("float", "base64"):
            body = await dataplane._encode_embeddings(resp, "e", fmt)
            expected = formats.encode_embeddings(resp, model="e", encoding_format=fmt)
            assert body == expected  # the same bytes as in one piece
    finally:
        running.cancel()
    assert ticks >= 2 * 4  # other work ran between the slices, in both encodings


@pytest.fixture
async def sse_upstream() -> AsyncIterator[int]:
    """The mock provider (OpenAI wire format) on a real port, as an upstream."""
    async with serving(create_mock_app(MockBehaviour())) as srv:
        yield srv.bound_port


@pytest.mark.parametrize(
    ("setting", "value"), [("max_stream_bytes", 600), ("max_event_bytes", 120)]
)
async def test_upstream_stream_bounds_end_the_stream_with_an_error_naming_them(
    gateway: Start, sse_upstream: int, setting: str, value: int
) -> None:
    provider = {
        "type": "openai",
        "api_key": "sk-test",
        "base_url": f"http://127.0.0.1:{sse_upstream}/v1",
    }
    model = {"deployments": [{"provider": "up", "model": "x"}], "retry": {"attempts": 0}}
    extra = {"providers": {"up": provider}, "models": {"s": model}}
    async with gateway(server={"upstream": {setting: value}}, extra=extra) as (c, key):
        body = {"model": "s", "stream": True, "max_tokens": 200}
        body["messages"] = [{"role": "user", "content": " ".join(["word"] * 40)}]
        r = await c.post(
            "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
        )
    text = r.text
    assert f"server.upstream.{setting}" in text, text[-400:]
    if r.status_code == 200:  # cut after the first token: an error event ends the stream
        last = text.strip().rsplit("data: ", 1)[-1]
        assert "error" in orjson.loads(last)
    else:  # cut before it: the attempt failed like any upstream failure
        assert r.status_code == 502 and "error" in r.json()
