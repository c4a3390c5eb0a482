"""Conditional routing and canaries: ``route:`` in ``policies`` (CEL conditions over headers,
attributes and estimated tokens; deployment sets; sticky percentage splits)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any, cast

import pytest

from lockgate.config.loader import ConfigError, load_config_text
from lockgate.identity.principal import Principal
from lockgate.pipeline.context import RequestContext
from lockgate.routing.rules import compile_routes

ADMIN = "lga-rules-test-admin-key-0123456789abcdef"


def config(*policies: dict[str, Any], plans: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "providers": {"eu": {"type": "mock", "region": "eu"}, "us": {"type": "mock"}},
        "models": {
            "main": {
                "deployments": [{"provider": "eu", "model": "m"}, {"provider": "us", "model": "m"}],
                "routing": "round-robin",
            },
            "premium": {"deployments": [{"provider": "us", "model": "p"}]},
            "long": {"deployments": [{"provider": "us", "model": "l"}]},
            "next": {"deployments": [{"provider": "us", "model": "n"}]},
            "embed": {"kind": "embedding", "deployments": [{"provider": "us", "model": "e"}]},
        },
        "policies": list(policies),
        "plans": plans or {},
    }


async def ask(gw: Any, key: str, text: str = "hi", **headers: str) -> tuple[str, str]:
    r = await gw.client.post(
        "/v1/chat/completions",
        json={"model": "main", "messages": [{"role": "user", "content": text}]},
        headers={"authorization": f"Bearer {key}", **headers},
    )
    assert r.status_code == 200, r.text
    return r.json()["model"], r.headers["x-lockgate-model"]


async def test_a_header_condition_sends_the_request_to_another_model(inproc: Any) -> None:
    rule = {
        "name": "gold",
        "match": {"models": ["main"]},
        "route": {"when": 'request.headers["x-tier"] == "gold"', "model": "premium"},
    }
    async with inproc(config(rule)) as gw:
        key = await gw.key()
        assert await ask(gw, key, **{"x-tier": "gold"}) == ("premium", "premium")
        assert await ask(gw, key) == ("main", "main")


async def test_estimated_tokens_route_long_prompts(inproc: Any) -> None:
    rule = {"name": "long", "route": {"when": "request.tokens > 200", "model": "long"}}
    async with inproc(config(rule)) as gw:
        key = await gw.key()
        assert (await ask(gw, key, "hello " * 400))[0] == "long"
        assert (await ask(gw, key, "hello"))[0] == "main"


async def test_attributes_choose_a_deployment_set(inproc: Any) -> None:
    rule = {
        "name": "finance-eu",
        "match": {"models": ["main"]},
        "route": {
            "when": 'principal.attributes.department == "finance"',
            "deployments": ["eu/m"],
        },
    }
    async with inproc(config(rule), extra_admin_keys=(ADMIN,)) as gw:
        finance = await gw.key("acme", "books")
        gw.gw.store.update_tenant("acme", attributes={"department": "finance"})
        other = await gw.key("globex", "bot")
        await gw.gw.refresher.refresh_now()
        for _ in range(4):
            assert (await ask(gw, finance))[0] == "main"
        rows = await gw.client.get(
            "/admin/v1/deployments", headers={"authorization": f"Bearer {ADMIN}"}
        )
        served = {
            r["deployment"]: r["requests"] for r in rows.json()["data"] if r["model"] == "main"
        }
        assert served == {"eu/m": 4, "us/m": 0}  # round-robin would have split them
        for _ in range(4):
            await ask(gw, other)
        rows = await gw.client.get(
            "/admin/v1/deployments", headers={"authorization": f"Bearer {ADMIN}"}
        )
        served = {
            r["deployment"]: r["requests"] for r in rows.json()["data"] if r["model"] == "main"
        }
        assert served == {"eu/m": 6, "us/m": 2}


async def test_a_split_is_sticky_per_key(inproc: Any) -> None:
    rule = {
        "name": "canary",
        "match": {"models": ["main"]},
        "route": {"split": [{"model": "main", "weight": 50}, {"model": "next", "weight": 50}]},
    }
    async with inproc(config(rule)) as gw:
        seen: dict[str, set[str]] = {}
        for i in range(6):
            key = await gw.key("acme", f"app{i}")
            seen[key] = {(await ask(gw, key))[0] for _ in range(5)}
        assert all(len(models) == 1 for models in seen.values())  # sticky
        assert set().union(*seen.values()) == {"main", "next"}  # both halves used


async def test_a_target_outside_the_callers_plan_is_passed_over(inproc: Any) -> None:
    rules = (
        {"name": "to-premium", "route": {"model": "premium"}},
        {"name": "to-next", "route": {"model": "next"}},
    )
    plans = {"basic": {"models": ["main", "next"]}}
    async with inproc(config(*rules, plans=plans)) as gw:
        key = await gw.key(plan="basic")
        assert (await ask(gw, key))[0] == "next"  # the first rule's model is not for this key


async def test_a_condition_that_fails_does_not_route(inproc: Any) -> None:
    rule = {"name": "odd", "route": {"when": 'principal.attributes.tier == "x"', "model": "long"}}
    async with inproc(config(rule)) as gw:
        key = await gw.key()
        assert (await ask(gw, key))[0] == "main"  # no 'tier' attribute: the rule passes


async def test_a_chat_route_is_not_sent_to_an_embedding_model(inproc: Any) -> None:
    rule = {"name": "wrong-kind", "route": {"model": "embed"}}
    async with inproc(config(rule)) as gw:
        key = await gw.key()
        assert (await ask(gw, key))[0] == "main"


# --- the split's distribution, without HTTP ------------------------------------------------


def test_split_shares_follow_the_weights_and_keep_each_subject() -> None:
    doc = config(
        {
            "name": "canary",
            "route": {
                "split": [{"model": "main", "weight": 90}, {"model": "next", "weight": 10}],
                "sticky": "app",
            },
        }
    )
    cfg = load_config_text(_yaml(doc), env={})
    models = {name: SimpleNamespace(name=name, kind=None, targets=()) for name in cfg.models}
    [rule] = compile_routes(cfg, cast(Any, models))
    current = cast(Any, models["main"])

    def pick(app: str) -> str:
        ctx = cast(RequestContext, SimpleNamespace(principal=_principal(app)))
        return rule.target(ctx, current).name  # type: ignore[union-attr]

    counts = Counter(pick(f"app_{i}") for i in range(10_000))
    assert abs(counts["next"] / 10_000 - 0.10) < 0.01
    assert all(pick(f"app_{i}") == pick(f"app_{i}") for i in range(100))


def _principal(app: str) -> Principal:
    return Principal(
        key_id=f"key-of-{app}",
        key_prefix=None,
        app_id=app,
        app_name=app,
        tenant_name="t",
        plan=None,
        roles=(),
        attributes={},
        residency=(),
    )


def _yaml(doc: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps({"version": 1, **doc}).decode()  # JSON is YAML


# --- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "problem"),
    [
        ({"model": "premium", "split": [{"model": "next", "weight": 1}]}, "exactly one of"),
        ({"model": "premium", "sticky": "app"}, "sticky applies to a split only"),
        ({"model": "ghost"}, "unknown model 'ghost'"),
        ({"split": [{"model": "ghost", "weight": 1}]}, "unknown model 'ghost'"),
        ({"split": [{"model": "next", "weight": 0}]}, "greater than 0"),
        ({"deployments": ["eu/m"]}, "deployments needs match.models"),
        ({"when": "request.nope > 1", "model": "premium"}, "unknown field request.nope"),
    ],
)
def test_route_config_problems(route: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(_yaml(config({"name": "r", "route": route})), env={})
    assert any(problem in p.message for p in info.value.problems), info.value.problems


def test_deployments_must_belong_to_the_matched_models() -> None:
    rule = {
        "name": "r",
        "match": {"models": ["main", "premium"]},
        "route": {"deployments": ["eu/m"]},
    }
    with pytest.raises(ConfigError) as info:
        load_config_text(_yaml(config(rule)), env={})
    [problem] = info.value.problems
    assert problem.path == "policies[0].route.deployments"
    assert "model 'premium' has none of these deployments" in problem.message
    rule["route"] = {"deployments": ["eu/m", "zz/top"]}
    rule["match"] = {"models": ["main"]}
    with pytest.raises(ConfigError) as info:
        load_config_text(_yaml(config(rule)), env={})
    [problem] = info.value.problems
    assert problem.path == "policies[0].route.deployments[1]" and "'zz/top'" in problem.message
