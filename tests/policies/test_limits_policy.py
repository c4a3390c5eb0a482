"""Limits on the data plane, in process: refusals, headers, envelopes, exactness, settlement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

ADMIN = "lga-limits-admin-" + "x" * 24


def config(limits: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "server": {"admin_keys": [ADMIN]},
        "providers": {"demo": {"type": "mock"}},
        "models": {
            "chat": {
                "deployments": [{"provider": "demo", "model": "x"}],
                "price": {"input": 1000.0, "output": 2000.0},
                "default_max_tokens": 50,
            },
            "other": {
                "deployments": [{"provider": "demo", "model": "y"}],
                "price": {"input": 1.0, "output": 1.0},
            },
        },
        "plans": {"p": {"limits": limits}},
        "default_plan": "p",
    }
    doc.update(extra)
    return doc


def chat(model: str = "chat", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}


async def post(gw: Any, key: str, body: dict[str, Any], path: str = "/v1/chat/completions") -> Any:
    return await gw.client.post(path, json=body, headers={"authorization": f"Bearer {key}"})


async def report(gw: Any, **query: str) -> list[dict[str, Any]]:
    r = await gw.client.get(
        "/admin/v1/limits", params=query, headers={"authorization": f"Bearer {ADMIN}"}
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["rows"]
    return rows


async def test_request_limit_refuses_with_openai_envelope_and_headers(inproc: Any) -> None:
    async with inproc(config([{"requests": 2, "per": "minute"}])) as gw:
        key = await gw.key()
        first = await post(gw, key, chat())
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert first.headers["x-ratelimit-reset-requests"] == "30s"
        assert (await post(gw, key, chat())).status_code == 200
        r = await post(gw, key, chat())
        assert r.status_code == 429
        err = r.json()["error"]
        assert err["code"] == "rate_limit_exceeded" and err["type"] == "requests"
        assert "plan 'p' limit of 2 requests per minute per tenant" in err["message"]
        assert "plans.p.limits[0]" in err["message"] and "retry in 30s" in err["message"]
        assert r.headers["retry-after"] == "30"
        assert r.headers["x-ratelimit-remaining-requests"] == "0"


async def test_anthropic_route_gets_its_envelope_and_headers(inproc: Any) -> None:
    async with inproc(config([{"requests": 1, "per": "minute"}])) as gw:
        key = await gw.key()
        body = chat(max_tokens=20)
        ok = await post(gw, key, body, "/v1/messages")
        assert ok.status_code == 200
        assert ok.headers["anthropic-ratelimit-requests-limit"] == "1"
        assert ok.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert ok.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
        r = await post(gw, key, body, "/v1/messages")
        assert r.status_code == 429 and r.headers["retry-after"] == "60"
        assert r.json()["type"] == "error"
        assert r.json()["error"]["type"] == "rate_limit_error"


async def test_budget_refuses_with_insufficient_quota(inproc: Any) -> None:
    # $1000/M in, $2000/M out: a call reserves ~$0.029 (9 prompt + 10 output tokens) and
    # really costs $0.013 (3 + 5 tokens): the third call no longer fits in $0.05.
    async with inproc(config([{"cost": 0.05, "per": "month"}])) as gw:
        key = await gw.key()
        statuses = [(await post(gw, key, chat(max_tokens=10))).status_code for _ in range(2)]
        assert statuses == [200, 200]
        r = await post(gw, key, chat(max_tokens=10))
        assert r.status_code == 429, r.text
        err = r.json()["error"]
        assert err["code"] == "insufficient_quota" and err["type"] == "insufficient_quota"
        assert "$0.05 per month" in err["message"] and "$0.02 left" in err["message"]
        [row] = await report(gw, tenant="acme")
        assert row["used"] == pytest.approx(0.026)


async def test_a_request_larger_than_the_limit_says_so(inproc: Any) -> None:
    async with inproc(config([{"tokens": 40, "per": "minute"}])) as gw:
        key = await gw.key()
        r = await post(gw, key, chat())  # reserves prompt + 50 default output tokens
        assert r.status_code == 429
        assert "more than the limit allows at all" in r.json()["error"]["message"]
        assert "lower max_tokens" in r.json()["error"]["message"]
        assert (await post(gw, key, chat(max_tokens=5))).status_code == 200


async def test_concurrent_requests_admit_exactly_the_limit(inproc: Any) -> None:
    async with inproc(config([{"requests": 10, "per": "hour"}])) as gw:
        key = await gw.key()
        results = await asyncio.gather(*(post(gw, key, chat()) for _ in range(30)))
        codes = sorted(r.status_code for r in results)
        assert codes == [200] * 10 + [429] * 20


async def test_a_refused_request_consumes_no_other_limit(inproc: Any) -> None:
    limits = [{"requests": 100, "per": "minute"}, {"tokens": 100, "per": "minute"}]
    async with inproc(config(limits)) as gw:
        key = await gw.key()
        r = await post(gw, key, chat(max_tokens=95))  # ~105 tokens: refused by tokens
        assert r.status_code == 429
        rows = {row["measure"]: row for row in await report(gw, tenant="acme")}
        assert rows["requests"]["used"] == 0 and rows["tokens"]["used"] == 0


async def test_tokens_settle_to_real_usage(inproc: Any) -> None:
    async with inproc(config([{"tokens": 1000, "per": "day"}])) as gw:
        key = await gw.key()
        r = await post(gw, key, chat())
        usage = r.json()["usage"]
        [row] = await report(gw, tenant="acme")
        assert row["used"] == usage["prompt_tokens"] + usage["completion_tokens"]
        r = await post(gw, key, chat(stream=True))
        assert r.status_code == 200
        [row2] = await report(gw, tenant="acme")
        assert row2["used"] > row["used"]


async def test_model_each_and_key_scope_keep_separate_counters(inproc: Any) -> None:
    limits = [{"requests": 1, "per": "minute", "scope": "key", "model": "each"}]
    async with inproc(config(limits)) as gw:
        k1 = await gw.key()
        k2 = await gw.key(app="second")
        assert (await post(gw, k1, chat())).status_code == 200
        assert (await post(gw, k1, chat("other"))).status_code == 200  # another model
        assert (await post(gw, k2, chat())).status_code == 200  # another key
        assert (await post(gw, k1, chat())).status_code == 429


async def test_an_app_plan_overrides_the_tenant_plan_and_counts_per_app(inproc: Any) -> None:
    doc = config([{"requests": 1, "per": "minute"}])
    doc["plans"]["roomy"] = {"limits": [{"requests": 5, "per": "minute"}]}
    async with inproc(doc) as gw:
        tight = await gw.key(app="tight")
        roomy = await gw.key(app="roomy", plan="roomy")
        assert (await post(gw, tight, chat())).status_code == 200
        assert (await post(gw, tight, chat())).status_code == 429
        statuses = [(await post(gw, roomy, chat())).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]


async def test_policy_limits_apply_by_match(inproc: Any) -> None:
    doc = config([])
    doc["policies"] = [
        {
            "name": "chat-cap",
            "match": {"models": ["chat"]},
            "limits": [{"requests": 1, "per": "hour"}],
        }
    ]
    async with inproc(doc) as gw:
        key = await gw.key()
        assert (await post(gw, key, chat())).status_code == 200
        r = await post(gw, key, chat())
        assert r.status_code == 429 and "policy 'chat-cap'" in r.json()["error"]["message"]
        assert (await post(gw, key, chat("other"))).status_code == 200


async def test_report_lists_every_limit_with_reset(inproc: Any) -> None:
    limits = [
        # per hour: the bucket refills slowly enough that a slow moment between the call and
        # the report cannot move `used` (per minute, 1.3 s of a busy machine moved it by 0.11)
        {"requests": 5, "per": "hour", "burst": 2},
        {"cost": 10, "per": "month", "tz": "Europe/Berlin"},
        {"requests": 3, "per": "second", "scope": "ip"},
    ]
    async with inproc(config(limits)) as gw:
        key = await gw.key()
        await post(gw, key, chat())
        rows = await report(gw, tenant="acme")
        by = {r["limit"]: r for r in rows}
        req = by["plans.p.limits[0]"]
        assert (req["allowed"], req["burst"]) == (5, 2)
        assert req["used"] == pytest.approx(1, abs=0.1)  # refilling continuously
        assert req["remaining"] == pytest.approx(6, abs=0.1)
        cost = by["plans.p.limits[1]"]
        assert cost["unit"] == "USD" and 0 < cost["used"] < 0.2 and cost["resets_at"]
        assert by["plans.p.limits[2]"]["subject"] is None  # per IP: no single subject
        r = await gw.client.get("/admin/v1/limits", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 400


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/messages"])
async def test_upstream_failure_before_output_gives_the_tokens_back(
    inproc: Any, route: str
) -> None:
    doc = config([{"tokens": 1000, "per": "day"}])
    doc["models"]["chat"]["retry"] = {"attempts": 0}
    async with inproc(doc) as gw:
        key = await gw.key()
        body = chat(max_tokens=20)
        body["messages"][0]["content"] = "fail please [[mock:status=503]]"
        r = await post(gw, key, body, route)
        assert r.status_code == 503
        [row] = await report(gw, tenant="acme")
        assert row["used"] == 0


async def test_max_in_flight_queues_then_refuses_after_queue_timeout(inproc: Any) -> None:
    doc = config([])
    doc["models"]["chat"].update({"max_in_flight": 1, "queue_timeout": "30s"})
    doc["models"]["other"].update({"max_in_flight": 1, "queue_timeout": "10ms"})
    async with inproc(doc) as gw:
        key = await gw.key()
        busy = gw.gw.services.gates["other"]
        assert await busy.acquire(0, 1.0)  # another call holds the only slot
        r = await post(gw, key, chat("other"))
        assert r.status_code == 429 and r.json()["error"]["code"] == "model_busy"
        assert "max_in_flight 1" in r.json()["error"]["message"]
        busy.release()
        gate = gw.gw.services.gates["chat"]
        assert await gate.acquire(0, 1.0)
        waiting = asyncio.create_task(post(gw, key, chat()))
        for _ in range(10_000):  # let the request reach the queue
            if gate.queued:
                break
            await asyncio.sleep(0)
        r = await gw.client.get(
            "/admin/v1/limits?tenant=acme", headers={"authorization": f"Bearer {ADMIN}"}
        )
        queues = {q["model"]: q for q in r.json()["queues"]}
        assert queues["chat"] == {"model": "chat", "max_in_flight": 1, "in_flight": 1, "queued": 1}
        gate.release()
        assert (await waiting).status_code == 200
        assert gate.in_flight == 0  # the request gave its slot back at completion


async def test_a_monthly_quota_resets_at_the_month_end_in_its_tz(inproc: Any) -> None:
    now = [datetime(2026, 1, 31, 22, 59, 0, tzinfo=UTC).timestamp()]  # 23:59 in Berlin
    limits = [{"requests": 2, "per": "month", "tz": "Europe/Berlin"}]
    async with inproc(config(limits), clock=lambda: now[0]) as gw:
        key = await gw.key()
        assert [(await post(gw, key, chat())).status_code for _ in range(3)] == [200, 200, 429]
        r = await post(gw, key, chat())
        assert r.json()["error"]["code"] == "insufficient_quota"
        assert r.headers["retry-after"] == "60"  # a minute to midnight, Berlin time
        now[0] += 60  # February in Berlin (still January in UTC)
        assert (await post(gw, key, chat())).status_code == 200


async def test_a_reload_adds_changes_and_removes_limits(inproc: Any) -> None:
    from lockgate.config.models import Config

    def load(limits: list[dict[str, Any]]) -> Config:
        storage = gw.gw.config.storage
        return Config.model_validate({"version": 1, "storage": storage, **config(limits)})

    async with inproc(config([])) as gw:
        key = await gw.key()
        assert [(await post(gw, key, chat())).status_code for _ in range(3)] == [200] * 3
        await gw.gw.apply_config(load([{"requests": 1, "per": "day"}]))
        assert [(await post(gw, key, chat())).status_code for _ in range(2)] == [200, 429]
        await gw.gw.apply_config(load([{"requests": 3, "per": "day"}]))  # same counter, raised
        assert [(await post(gw, key, chat())).status_code for _ in range(3)] == [200, 200, 429]
        await gw.gw.apply_config(load([]))
        assert (await post(gw, key, chat())).status_code == 200


async def test_policy_limits_match_routes_and_tenant_qualified_apps(inproc: Any) -> None:
    doc = config([])
    doc["policies"] = [
        {
            "name": "messages-only",
            "match": {"routes": ["messages"], "apps": ["acme/bot"]},
            "limits": [{"requests": 1, "per": "hour"}],
        }
    ]
    async with inproc(doc) as gw:
        key = await gw.key()
        other = await gw.key(app="other")
        body = chat(max_tokens=10)
        assert (await post(gw, key, body, "/v1/messages")).status_code == 200
        assert (await post(gw, key, body, "/v1/messages")).status_code == 429
        assert (await post(gw, key, body)).status_code == 200  # chat completions: not matched
        assert (await post(gw, other, body, "/v1/messages")).status_code == 200  # another app
