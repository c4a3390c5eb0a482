"""The cache in Redis: two gateways (as two processes would) share answers, keys are
hash-tagged by tenant under the gateway's prefix, and they expire with the TTL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

CONFIG: dict[str, Any] = {
    "providers": {"demo": {"type": "mock"}},
    "models": {
        "chat": {
            "deployments": [{"provider": "demo", "model": "x"}],
            "cache": {"mode": "exact", "ttl": "30s"},
        }
    },
}


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    name = f"lgtest:{secrets.token_hex(4)}:"
    yield name
    client = Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=name + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_an_answer_stored_by_one_gateway_is_a_hit_on_another(
    inproc: Any, redis_url: str, prefix: str
) -> None:
    doc = {**CONFIG, "state": redis_url}
    body = {"model": "chat", "messages": [{"role": "user", "content": "shared question"}]}
    async with inproc(doc, key_prefix=prefix) as one, inproc(doc, key_prefix=prefix) as two:
        key = await one.key()
        await two.gw.refresher.refresh_now()
        auth = {"authorization": f"Bearer {key}"}
        r = await one.client.post("/v1/chat/completions", json=body, headers=auth)
        assert r.headers["x-lockgate-cache"] == "miss"
        await one.gw.finalizer.drain()
        r = await two.client.post("/v1/chat/completions", json=body, headers=auth)
        assert r.headers["x-lockgate-cache"] == "hit"
        assert r.json()["choices"][0]["message"]["content"] == "Mock reply to: shared question"
        client = Redis.from_url(redis_url)
        [stored] = [k async for k in client.scan_iter(match=prefix + "*")]
        assert stored.decode().startswith(prefix + "c:{t:acme}:chat:")
        assert 0 < await client.pttl(stored) <= 30_000
        await client.aclose()


async def test_semantic_entries_reach_every_gateway(
    inproc: Any, redis_url: str, prefix: str, ml_models: Any
) -> None:
    doc = {
        **CONFIG,
        "state": redis_url,
        "models": {
            "chat": {
                "deployments": [{"provider": "demo", "model": "x"}],
                "cache": {"mode": "semantic", "ttl": "30s"},
            }
        },
    }

    def ask(text: str) -> dict[str, Any]:
        return {"model": "chat", "messages": [{"role": "user", "content": text}]}

    async with inproc(doc, key_prefix=prefix) as one, inproc(doc, key_prefix=prefix) as two:
        key = await one.key()
        await two.gw.refresher.refresh_now()
        auth = {"authorization": f"Bearer {key}"}
        r = await one.client.post(
            "/v1/chat/completions", json=ask("How many days are in a leap year?"), headers=auth
        )
        assert r.headers["x-lockgate-cache"] == "miss"
        await one.gw.finalizer.drain()
        r = await two.client.post(
            "/v1/chat/completions", json=ask("A leap year has how many days?"), headers=auth
        )
        assert r.headers["x-lockgate-cache"] == "hit"
