"""The exact cache through the gateway: hit, miss and bypass in both ingress formats, stream
replay, TTL on an injected clock, tenant isolation, and limits and usage on hits."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lockgate.pipeline.context import RequestContext

PLAN = {
    "models": ["*"],
    "limits": [{"requests": 100, "per": "minute"}, {"tokens": "100k", "per": "day"}],
}


def config(scope: str = "tenant", ttl: str = "10m") -> dict[str, Any]:
    return {
        "providers": {"demo": {"type": "mock"}},
        "models": {
            "chat": {
                "deployments": [{"provider": "demo", "model": "x"}],
                "price": {"input": 1.0, "output": 2.0},
                "cache": {"mode": "exact", "ttl": ttl, "scope": scope},
            },
            "plain": {"deployments": [{"provider": "demo", "model": "x"}]},
        },
        "plans": {"p": PLAN},
    }


def body(text: str = "what is the capital of France?", **extra: Any) -> dict[str, Any]:
    return {
        "model": "chat",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def post(
    gw: Any, key: str, payload: dict[str, Any], path: str = "/v1/chat/completions", **headers: str
) -> Any:
    r = await gw.client.post(
        path, json=payload, headers={"authorization": f"Bearer {key}", **headers}
    )
    await gw.gw.finalizer.drain()  # the answer is stored after the response went out
    return r


async def test_hit_miss_and_bypass_in_both_formats(inproc: Any) -> None:
    async with inproc(config()) as gw:
        key = await gw.key(plan="p")
        first = await post(gw, key, body())
        assert first.headers["x-lockgate-cache"] == "miss"
        again = await post(gw, key, body())
        assert again.headers["x-lockgate-cache"] == "hit"
        assert again.json()["choices"][0]["message"] == first.json()["choices"][0]["message"]
        # the same question in the Anthropic format shares the entry (same canonical request)
        r = await post(gw, key, body(), "/v1/messages")
        assert r.headers["x-lockgate-cache"] == "hit"
        assert r.json()["content"][0]["text"] == first.json()["choices"][0]["message"]["content"]
        # a streaming caller gets the hit replayed as a stream, in its format
        r = await post(gw, key, body(stream=True))
        assert r.headers["x-lockgate-cache"] == "hit"
        assert r.headers["content-type"].startswith("text/event-stream") and b"[DONE]" in r.content
        r = await post(gw, key, body(stream=True), "/v1/messages")
        assert r.headers["x-lockgate-cache"] == "hit" and b"message_stop" in r.content
        for directive in ("no-cache", "no-store"):
            r = await post(gw, key, body(), **{"cache-control": directive})
            assert r.headers["x-lockgate-cache"] == "bypass"
        r = await post(gw, key, body(temperature=0.5))  # sampling parameters are in the key
        assert r.headers["x-lockgate-cache"] == "miss"
        r = await post(gw, key, {**body(), "model": "plain"})  # not a cached model
        assert "x-lockgate-cache" not in r.headers


async def test_a_streamed_miss_is_stored_and_answers_plain_callers(inproc: Any) -> None:
    async with inproc(config()) as gw:
        key = await gw.key(plan="p")
        r = await post(gw, key, body("stream it first", stream=True), "/v1/messages")
        assert r.headers["x-lockgate-cache"] == "miss"
        r = await post(gw, key, body("stream it first"))
        assert r.headers["x-lockgate-cache"] == "hit"
        assert r.json()["choices"][0]["message"]["content"] == "Mock reply to: stream it first"


async def test_ttl_follows_the_injected_clock(inproc: Any) -> None:
    clock = Clock()
    async with inproc(config(ttl="60s"), clock=clock) as gw:
        key = await gw.key(plan="p")
        await post(gw, key, body())
        clock.now += 59
        assert (await post(gw, key, body())).headers["x-lockgate-cache"] == "hit"
        clock.now += 2
        assert (await post(gw, key, body())).headers["x-lockgate-cache"] == "miss"


@pytest.mark.parametrize("scope", ["tenant", "app", "key", "global"])
async def test_scopes_never_cross_tenants_unless_global(inproc: Any, scope: str) -> None:
    async with inproc(config(scope)) as gw:
        a1 = await gw.key("acme", "bot", plan="p")
        await post(gw, a1, body())
        same_app = await gw.key(app_id=gw.gw.keys.lookup(a1).app_id)
        other_app = await gw.key("acme", "other", plan="p")
        other_tenant = await gw.key("globex", "bot", plan="p")
        expected = {
            "tenant": ("hit", "hit", "miss"),
            "app": ("hit", "miss", "miss"),
            "key": ("miss", "miss", "miss"),
            "global": ("hit", "hit", "hit"),
        }[scope]
        got = []
        for k in (same_app, other_app, other_tenant):
            got.append((await post(gw, k, body())).headers["x-lockgate-cache"])
        assert tuple(got) == expected


async def test_a_hit_costs_nothing_saves_tokens_and_still_counts_as_a_request(
    inproc: Any,
) -> None:
    seen: list[RequestContext] = []
    async with inproc(config()) as gw:
        gw.gw.finalizer.recorders.append(seen.append)
        key = await gw.key(plan="p")
        await post(gw, key, body())
        r = await post(gw, key, body())
        miss, hit = seen
        assert miss.cache == "miss" and miss.cost and miss.usage and miss.usage.total_tokens
        assert hit.cache == "hit" and hit.cost == 0.0 and hit.usage is not None
        assert hit.usage.total_tokens == 0
        assert hit.cache_saved_tokens == miss.usage.total_tokens
        assert hit.decided_by == "cache" and hit.target is None
        assert int(r.headers["x-ratelimit-remaining-requests"]) == 98  # the hit was counted
        again = await post(gw, key, body())
        assert int(again.headers["x-ratelimit-remaining-requests"]) == 97
        # the hit settled to 0 tokens: the next identical request sees the same token balance
        tokens = "x-ratelimit-remaining-tokens"
        assert again.headers[tokens] == r.headers[tokens]


async def test_embeddings_are_cached_too(inproc: Any) -> None:
    doc = config()
    doc["models"]["emb"] = {
        "kind": "embedding",
        "deployments": [{"provider": "demo", "model": "e"}],
        "cache": {"mode": "exact"},
    }
    async with inproc(doc) as gw:
        key = await gw.key(plan="p")
        payload = {"model": "emb", "input": ["a", "b"]}
        first = await post(gw, key, payload, "/v1/embeddings")
        second = await post(gw, key, payload, "/v1/embeddings")
        assert (first.headers["x-lockgate-cache"], second.headers["x-lockgate-cache"]) == (
            "miss",
            "hit",
        )
        assert orjson.loads(first.content)["data"] == orjson.loads(second.content)["data"]
