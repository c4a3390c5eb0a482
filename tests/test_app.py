"""The gateway app in-process: health, readiness against real state backends, routing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lockgate.app import Gateway
from lockgate.config.models import Config


def _config(tmp_path: Path, state: str) -> Config:
    return Config.model_validate(
        {
            "version": 1,
            "storage": f"sqlite:///{tmp_path / 'app.db'}",
            "state": state,
            "providers": {"demo": {"type": "mock"}},
            "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
        }
    )


async def _client(gw: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    await gw.startup()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            yield c
    finally:
        await gw.shutdown()


@pytest.fixture
async def memory_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(Gateway(_config(tmp_path, "memory"))):
        yield c


async def test_health_and_ready(memory_client: httpx.AsyncClient) -> None:
    assert (await memory_client.get("/healthz")).json() == {"status": "ok"}
    ready = (await memory_client.get("/readyz")).json()
    assert ready == {"status": "ready", "checks": {"store": "ok", "state": "ok"}}


async def test_unknown_route_and_wrong_method(memory_client: httpx.AsyncClient) -> None:
    r = await memory_client.get("/v2/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_route"
    r = await memory_client.get("/v1/chat/completions")
    assert r.status_code == 405 and "POST" in r.json()["error"]["message"]
    assert r.headers["x-request-id"].startswith("req_")


async def test_ready_with_real_redis(tmp_path: Path, redis_url: str) -> None:
    async for c in _client(Gateway(_config(tmp_path, redis_url))):
        r = await c.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["state"] == "ok"


async def test_not_ready_when_redis_is_unreachable(tmp_path: Path) -> None:
    async for c in _client(Gateway(_config(tmp_path, "redis://127.0.0.1:9/0"))):
        r = await c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["state"].startswith("unreachable")


def test_tune_collector_freezes_start_up_objects_and_raises_gen0() -> None:
    import gc

    from lockgate.app import GC_GEN0_THRESHOLD, tune_collector

    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
