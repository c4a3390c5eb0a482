"""Routing end to end: an in-process gateway in front of real ``lockgate mock-upstream``
processes, killed, slowed or failing on purpose.

The gateway's router runs on a virtual clock (breaker windows, open periods, retry-after
cool-downs move only when a test moves them); the upstream timeouts are real and short, and
outcomes are asserted, never durations.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from live_helpers import MockUpstreams, Proc, free_port
from routing_helpers import Clock, Sleeps

from lockgate.routing.router import Router

ADMIN = "lga-routing-test-admin-key-0123456789abcdef"
BREAKER = {"window": "10s", "min_requests": 4, "error_rate": 0.5, "open_for": "30s", "probes": 2}


def openai_provider(mock: Proc, **extra: Any) -> dict[str, Any]:
    return {"type": "openai", "base_url": f"{mock.base}/v1", "api_key": "sk-test", **extra}


def gateway(inproc: Any, doc: dict[str, Any], clock: Clock | None = None) -> Any:
    router = Router(clock=clock, wall=clock, sleep=Sleeps(clock)) if clock else None
    return inproc(doc, extra_admin_keys=(ADMIN,), router=router)


async def chat(gw: Any, key: str, model: str, text: str = "hello", **body: Any) -> httpx.Response:
    payload = {"model": model, "messages": [{"role": "user", "content": text}], **body}
    r: httpx.Response = await gw.client.post(
        "/v1/chat/completions", json=payload, headers={"authorization": f"Bearer {key}"}
    )
    return r


async def deployments(gw: Any) -> dict[str, dict[str, Any]]:
    r = await gw.client.get("/admin/v1/deployments", headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    return {f"{row['model']} {row['deployment']}": row for row in r.json()["data"]}


def mock_stats(mock: Proc) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(mock.base + "/_mock/stats").json()
    return stats


def served(mock: Proc) -> int:
    return int(mock_stats(mock)["requests"])


def pair_config(a: Proc, b: Proc, **model: Any) -> dict[str, Any]:
    return {
        "providers": {"a": openai_provider(a), "b": openai_provider(b)},
        "models": {
            "pair": {
                "routing": "round-robin",
                "deployments": [{"provider": "a", "model": "m"}, {"provider": "b", "model": "m"}],
                "circuit_breaker": BREAKER,
                "retry": {"attempts": 1, "backoff": "1ms"},
                **model,
            }
        },
    }


# --- a dead deployment ---------------------------------------------------------------------


async def test_killed_deployment_zero_errors_breaker_opens_half_opens_closes(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    port = free_port()
    a, b = mock_upstream.many([], [], ports=[port])
    clock = Clock()
    async with gateway(inproc, pair_config(a, b), clock) as gw:
        key = await gw.key()
        for _ in range(4):
            assert (await chat(gw, key, "pair")).status_code == 200
        assert served(a) == 2 and served(b) == 2
        a.stop()  # killed
        for _ in range(20):  # zero client-visible errors: each refusal is retried on b
            r = await chat(gw, key, "pair")
            assert r.status_code == 200, r.text
        rows = await deployments(gw)
        dead = rows["pair a/m"]
        assert dead["breaker"] == "open" and not dead["available"]
        assert dead["failures"] >= 2 and "127.0.0.1" in (dead["last_error"] or "")
        assert rows["pair b/m"]["breaker"] == "closed"
        assert gw.gw.alerts.emitted == 1  # circuit.open
        # It is back; once open_for has passed, probes close the breaker.
        mock_upstream(port=port)
        clock.advance(31)
        for _ in range(6):
            assert (await chat(gw, key, "pair")).status_code == 200
        rows = await deployments(gw)
        assert rows["pair a/m"]["breaker"] == "closed" and rows["pair a/m"]["available"]
        assert gw.gw.alerts.emitted == 2  # circuit.close


async def test_slowed_deployment_times_out_is_retried_and_left_alone(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    slow, fast = mock_upstream.many(["--latency", "2000"], [])
    clock = Clock()
    doc = pair_config(slow, fast, timeout={"first_token": "150ms"})
    async with gateway(inproc, doc, clock) as gw:
        key = await gw.key()
        for _ in range(12):
            r = await chat(gw, key, "pair")
            assert r.status_code == 200, r.text
        rows = await deployments(gw)
        assert rows["pair a/m"]["breaker"] == "open"
        assert "first byte timeout" in rows["pair a/m"]["last_error"]
        assert rows["pair a/m"]["requests"] == 4  # then no more traffic
        assert served(fast) == 12


# --- retry-after -------------------------------------------------------------------------------


async def test_retry_after_keeps_a_deployment_aside_until_then(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    # The limited one answers every request 429 with retry-after: 1.
    limited, other = mock_upstream.many(["--fail-rate", "1", "--fail-status", "429"], [])
    clock = Clock()
    doc = pair_config(limited, other)
    del doc["models"]["pair"]["circuit_breaker"]
    async with gateway(inproc, doc, clock) as gw:
        key = await gw.key()
        assert (await chat(gw, key, "pair")).status_code == 200  # 429, then the other one
        assert served(limited) == 1
        for _ in range(6):
            assert (await chat(gw, key, "pair")).status_code == 200
        assert served(limited) == 1  # round-robin would have sent it 3 of those
        assert 0.99 <= (await deployments(gw))["pair a/m"]["cooldown_s"] <= 1.0
        clock.advance(1.01)
        for _ in range(2):
            await chat(gw, key, "pair")
        assert served(limited) == 2


async def test_retry_after_is_waited_on_a_single_deployment(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    limited = mock_upstream("--fail-rate", "0.5", "--fail-status", "429")
    clock = Clock()
    doc = {
        "providers": {"a": openai_provider(limited)},
        "models": {"one": {"deployments": [{"provider": "a", "model": "m"}]}},
    }
    async with gateway(inproc, doc, clock) as gw:
        key = await gw.key()
        start = clock()
        r = await chat(gw, key, "one")  # request 1 passes, but fail-rate 0.5 fails the 2nd
        r = await chat(gw, key, "one")
        assert r.status_code == 200
        assert clock() - start >= 1.0  # the router waited the retry-after (virtual time)


# --- streams -----------------------------------------------------------------------------------


def sse_events(body: bytes) -> list[Any]:
    out = []
    for line in body.split(b"\n"):
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            out.append(orjson.loads(line[6:]))
    return out


async def test_stream_failing_before_the_first_token_is_retried_after_is_an_error_event(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    a = mock_upstream()
    clock = Clock()
    doc = {
        "providers": {"a": openai_provider(a)},
        "models": {
            "s": {
                "deployments": [{"provider": "a", "model": "m"}],
                "circuit_breaker": {**BREAKER, "min_requests": 2, "error_rate": 0.5},
                "retry": {"attempts": 1, "backoff": "1ms"},
                "timeout": {"first_token": "200ms"},
            }
        },
    }
    async with gateway(inproc, doc, clock) as gw:
        key = await gw.key()
        # Before the first token: the provider hangs; the attempt is retried (and hangs
        # again): the client gets a clean 504, nothing was streamed.
        r = await chat(gw, key, "s", "hold on [[mock:hang]]", stream=True)
        assert r.status_code == 504
        row = (await deployments(gw))["s a/m"]
        assert row["requests"] == 2 and row["breaker"] == "open"
        clock.advance(31)
        # After the first token: the connection drops; the client has its 200 and gets an
        # error event in the stream, and the breaker counts the failure.
        r = await chat(gw, key, "s", "one two three four five [[mock:cut=2]]", stream=True)
        assert r.status_code == 200
        events = sse_events(r.content)
        assert events[0]["choices"][0]["delta"].get("role") == "assistant"
        assert "error" in events[-1]
        row = (await deployments(gw))["s a/m"]
        assert row["breaker"] == "open"  # the half-open probe failed mid-stream
        assert "stream" in row["last_error"]


# --- fallbacks, plans, residency, windows ------------------------------------------------------


async def test_fallbacks_obey_plan_and_residency(inproc: Any, mock_upstream: MockUpstreams) -> None:
    down, up = mock_upstream.many(["--fail-rate", "1", "--fail-status", "503"], [])
    doc = {
        "providers": {
            "down": openai_provider(down, region="eu"),
            "us": openai_provider(up, region="us"),
            "eu": openai_provider(up, region="eu"),
        },
        "models": {
            "main": {
                "deployments": [{"provider": "down", "model": "m"}],
                "retry": {"attempts": 0},
                "fallbacks": ["gold", "us-model", "eu-model"],
            },
            "gold": {"deployments": [{"provider": "eu", "model": "gold-m"}]},
            "us-model": {"deployments": [{"provider": "us", "model": "us-m"}]},
            "eu-model": {"deployments": [{"provider": "eu", "model": "eu-m"}]},
        },
        "plans": {"basic": {"models": ["main", "us-model", "eu-model"]}},
    }
    async with gateway(inproc, doc) as gw:
        eu_key = await gw.key("acme", "bot", plan="basic")
        gw.gw.store.update_tenant("acme", residency=["eu"])
        await gw.gw.refresher.refresh_now()
        r = await chat(gw, eu_key, "main")
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "eu-model"
        assert r.headers["x-lockgate-model"] == "eu-model"
        assert r.headers["x-lockgate-fallback"] == "true"
        # One request reached the healthy upstream, and it was for eu-m: gold (not in the
        # plan) and us-model (outside the tenant's residency) were never tried.
        stats = mock_stats(up)
        assert stats["requests"] == 1 and stats["last_request"]["json"]["model"] == "eu-m"
        # ... and the request log says why it went there
        await gw.gw.obs.flush()
        r = await gw.client.get("/admin/v1/requests", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200, r.text
        routing = r.json()["rows"][0]["routing"]
        assert "main down/m: failed" in routing and "fell back" in routing, routing
        assert "gold" in routing and "us-model" in routing, routing  # the skips, with reasons


async def test_context_window_estimate_and_provider_error_move_to_a_larger_window(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    small, big = mock_upstream.many(["--context-window", "100"], [])
    doc = {
        "providers": {"small": openai_provider(small), "big": openai_provider(big)},
        "models": {
            "short": {
                "deployments": [{"provider": "small", "model": "m"}],
                "context_window": 8192,
                "fallbacks": ["long"],
            },
            "long": {"deployments": [{"provider": "big", "model": "m"}], "context_window": 200000},
            "tiny": {"deployments": [{"provider": "small", "model": "m"}], "context_window": 10},
        },
    }
    async with inproc(doc) as gw:
        key = await gw.key()
        r = await chat(gw, key, "short", "x " * 20000)  # ~10k tokens by the estimate
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "long"
        assert served(small) == 0
        # ~250 tokens: under the 8192 declared, over the 100 the upstream really has.
        r = await chat(gw, key, "short", "y " * 500)
        assert r.status_code == 200 and r.json()["model"] == "long"
        assert served(small) == 1  # it said "maximum context length": moved on
        r = await chat(gw, key, "tiny", "far more than ten tokens in this prompt, surely")
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["code"] == "context_length_exceeded"
        assert "context window of model 'tiny' (10 tokens)" in err["message"]


async def test_a_model_without_kind_serves_chat_and_embeddings(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    m = mock_upstream()
    doc = {
        "providers": {"p": openai_provider(m)},
        "models": {"any": {"deployments": [{"provider": "p", "model": "m"}]}},
    }
    async with inproc(doc) as gw:
        key = await gw.key()
        assert (await chat(gw, key, "any")).status_code == 200
        r = await gw.client.post(
            "/v1/embeddings",
            json={"model": "any", "input": "x"},
            headers={"authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200 and r.json()["model"] == "any"


# --- health checks -----------------------------------------------------------------------------


async def test_active_health_checks_take_a_provider_out_and_back(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    port = free_port()
    a, b = mock_upstream.many([], [], ports=[port])
    doc = pair_config(a, b)
    check = {"path": "/v1/models", "interval": "1h", "timeout": "1s"}
    doc["providers"]["a"]["health_check"] = check
    async with gateway(inproc, doc) as gw:
        key = await gw.key()
        health = gw.gw.router.health
        provider = gw.gw.runtime.providers["a"]
        config = gw.gw.runtime.config.providers["a"].health_check
        assert (await health.check("a", provider, config)).healthy
        a.stop()
        result = await health.check("a", provider, config)
        assert not result.healthy and result.reason
        row = (await deployments(gw))["pair a/m"]
        assert row["health"] == "unhealthy" and not row["available"]
        before = served(b)
        for _ in range(4):
            assert (await chat(gw, key, "pair")).status_code == 200
        assert served(b) == before + 4  # no attempt went to the unhealthy one
        mock_upstream(port=port)
        assert (await health.check("a", provider, config)).healthy
        assert (await deployments(gw))["pair a/m"]["health"] == "healthy"


# --- timeouts ----------------------------------------------------------------------------------


async def test_each_timeout_kind_and_the_whole_chain_deadline(
    inproc: Any, mock_upstream: MockUpstreams
) -> None:
    paced, failing = mock_upstream.many(
        ["--tokens-per-s", "2"],  # the 2nd token comes 0.5 s after the 1st
        ["--latency", "300", "--fail-rate", "1"],  # 0.3 s, then a 500
    )
    doc = {
        "providers": {"paced": openai_provider(paced), "failing": openai_provider(failing)},
        "models": {
            "quick": {
                "deployments": [{"provider": "paced", "model": "m"}],
                "retry": {"attempts": 0},
                "timeout": {"first_token": "200ms", "idle": "100ms"},
            },
            "chain": {
                "deployments": [{"provider": "failing", "model": "m"}],
                "retry": {"attempts": 10, "backoff": "1ms"},
                "timeout": {"total": "1s"},
            },
        },
    }
    async with inproc(doc) as gw:
        key = await gw.key()
        r = await chat(gw, key, "quick", "late [[mock:slow=1000]]")  # first byte
        assert r.status_code == 504 and "first byte timeout" in r.json()["error"]["message"]
        r = await chat(gw, key, "quick", "one two three four", stream=True)  # idle
        assert r.status_code == 200
        events = sse_events(r.content)
        assert "idle timeout" in events[-1]["error"]["message"]
        r = await chat(gw, key, "chain")  # total: across every retry, not per attempt
        assert r.status_code == 504
        message = r.json()["error"]["message"]
        assert "model 'chain': the request's timeout.total (1 s) ran out after" in message
        assert served(failing) <= 4  # not 11 attempts of up to 1 s each
