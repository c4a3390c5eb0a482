"""Limits settle exactly against real processes: a gateway in front of ``mock-upstream``.

Each case runs on its own tenant and reads ``GET /admin/v1/limits`` afterwards: the tokens and
cost counted must equal what the upstream reported (or what was produced, for streams without
usage and aborted streams), and nothing for calls that failed before any output.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner
from harness import ADMIN_KEY, Proc, admin, make_key, start_gateway, start_mock

from lockgate.cli import main

PRICES = {"m-openai": (1.0, 2.0), "m-anthropic": (3.0, 4.0)}


def config(mock: str, db: Path) -> str:
    return f"""
version: 1
server: {{admin_keys: ["${{env:LOCKGATE_ADMIN_KEY}}"]}}
storage: sqlite:///{db}
providers:
  oai:    {{type: openai, base_url: "{mock}/v1", api_key: "${{env:UPSTREAM_KEY}}"}}
  claude: {{type: anthropic, base_url: "{mock}", api_key: "${{env:UPSTREAM_KEY}}"}}
  dead:   {{type: openai, base_url: "http://127.0.0.1:9/v1", api_key: x}}
models:
  m-openai:
    deployments: [{{provider: oai, model: gpt-x}}]
    price: {{input: 1, output: 2}}
    retry: {{attempts: 0}}
  m-anthropic:
    deployments: [{{provider: claude, model: claude-x}}]
    price: {{input: 3, output: 4}}
  m-fallback:
    deployments: [{{provider: dead, model: gpt-x}}]
    retry: {{attempts: 0}}
    fallbacks: [m-anthropic]
    price: {{input: 1, output: 2}}
plans:
  metered:
    limits:
      - {{tokens: 10M, per: day}}
      - {{cost: 1000, per: month}}
default_plan: metered
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Proc]]:
    tmp = tmp_path_factory.mktemp("limits-e2e")
    mock = start_mock(tmp, "--tokens-per-s", "200")
    gw, _ = start_gateway(tmp, config(mock.base, tmp / "gw.db"))
    try:
        yield gw, mock
    finally:
        gw.stop()
        mock.stop()


def tenant_key(gw: Proc) -> tuple[str, str]:
    tenant = "t" + secrets.token_hex(4)
    return tenant, make_key(gw.base, tenant, "app")


def used(gw: Proc, tenant: str) -> tuple[float, float]:
    """(tokens, cost in USD) counted for the tenant."""
    with admin(gw.base) as c:
        rows = c.get("/limits", params={"tenant": tenant}).json()["rows"]
    by = {r["measure"]: r["used"] for r in rows}
    return by["tokens"], by["cost"]


def settled(gw: Proc, tenant: str, expect: tuple[float, float]) -> None:
    """Settlement runs just after the response: wait (briefly) until it shows."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = used(gw, tenant)
        if got[0] == pytest.approx(expect[0]) and got[1] == pytest.approx(expect[1]):
            return
        time.sleep(0.02)
    assert used(gw, tenant) == pytest.approx(expect)


def cost(model: str, prompt: int, completion: int) -> float:
    i, o = PRICES[model]
    return (prompt * i + completion * o) / 1e6


def post(gw: Proc, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        gw.base + path, json=body, headers={"authorization": f"Bearer {key}"}, timeout=30
    )


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            out.append(orjson.loads(line[6:]))
    return out


MSG = [{"role": "user", "content": "Tell me about limits in gateways today"}]


def test_plain_and_streamed_calls_settle_to_reported_usage(gateway: tuple[Proc, Proc]) -> None:
    gw, _ = gateway
    tenant, key = tenant_key(gw)
    r = post(gw, key, "/v1/chat/completions", {"model": "m-openai", "messages": MSG})
    u = r.json()["usage"]
    total = (
        u["prompt_tokens"] + u["completion_tokens"],
        cost("m-openai", u["prompt_tokens"], u["completion_tokens"]),
    )
    settled(gw, tenant, total)
    body = {
        "model": "m-openai",
        "messages": MSG,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = sse_events(post(gw, key, "/v1/chat/completions", body).content)
    su = events[-1]["usage"]
    total = (
        total[0] + su["prompt_tokens"] + su["completion_tokens"],
        total[1] + cost("m-openai", su["prompt_tokens"], su["completion_tokens"]),
    )
    settled(gw, tenant, total)
    # without asking for usage the client sees none, but the gateway still counts it exactly
    body = {"model": "m-openai", "messages": MSG, "stream": True}
    events = sse_events(post(gw, key, "/v1/chat/completions", body).content)
    assert all(e.get("usage") is None for e in events)
    settled(
        gw,
        tenant,
        (
            total[0] + su["prompt_tokens"] + su["completion_tokens"],
            total[1] + cost("m-openai", su["prompt_tokens"], su["completion_tokens"]),
        ),
    )


def test_anthropic_route_streamed_settles_to_reported_usage(gateway: tuple[Proc, Proc]) -> None:
    gw, _ = gateway
    tenant, key = tenant_key(gw)
    body = {"model": "m-anthropic", "messages": MSG, "max_tokens": 100, "stream": True}
    raw = post(gw, key, "/v1/messages", body).content
    events = [e for e in sse_events(raw)]
    start = next(e for e in events if e["type"] == "message_start")["message"]["usage"]
    delta = next(e for e in events if e["type"] == "message_delta")["usage"]
    prompt, completion = start["input_tokens"], delta["output_tokens"]
    settled(gw, tenant, (prompt + completion, cost("m-anthropic", prompt, completion)))


def test_a_stream_without_usage_is_counted(gateway: tuple[Proc, Proc]) -> None:
    gw, _ = gateway
    tenant, key = tenant_key(gw)
    msgs = [{"role": "user", "content": "Count me please [[mock:nousage]]"}]
    r = post(
        gw, key, "/v1/chat/completions", {"model": "m-openai", "messages": msgs, "stream": True}
    )
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while used(gw, tenant)[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    tokens, usd = used(gw, tenant)
    assert tokens > 0 and usd > 0  # counted, never billed at zero


def test_an_aborted_stream_is_billed_what_was_produced(gateway: tuple[Proc, Proc]) -> None:
    gw, _ = gateway
    tenant, key = tenant_key(gw)
    long = [{"role": "user", "content": " ".join(["word"] * 300)}]
    body = {"model": "m-openai", "messages": long, "stream": True, "max_tokens": 400}
    with (
        httpx.Client(timeout=30) as c,
        c.stream(
            "POST",
            gw.base + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
        ) as r,
    ):
        for chunk in r.iter_raw():
            if b'"content":"' in chunk:
                break  # some text arrived: hang up mid-stream
    deadline = time.monotonic() + 10
    while used(gw, tenant)[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    tokens, _ = used(gw, tenant)
    prompt_only = 300 + 10
    assert prompt_only - 10 < tokens < prompt_only + 400  # the prompt, plus part of the answer


def test_failure_before_output_settles_nothing(gateway: tuple[Proc, Proc]) -> None:
    gw, _ = gateway
    tenant, key = tenant_key(gw)
    msgs = [{"role": "user", "content": "[[mock:status=503]] fail"}]
    r = post(gw, key, "/v1/chat/completions", {"model": "m-openai", "messages": msgs})
    assert r.status_code == 503
    r = post(
        gw,
        key,
        "/v1/messages",
        {"model": "m-openai", "messages": msgs, "max_tokens": 50, "stream": True},
    )
    assert r.status_code == 503
    settled(gw, tenant, (0, 0))  # the reservations were given back


def test_a_fallback_is_billed_at_the_serving_models_price(gateway: tuple[Proc, Proc]) -> None:
    gw, _ = gateway
    tenant, key = tenant_key(gw)
    r = post(gw, key, "/v1/chat/completions", {"model": "m-fallback", "messages": MSG})
    assert r.status_code == 200
    u = r.json()["usage"]
    p, c = u["prompt_tokens"], u["completion_tokens"]
    settled(gw, tenant, (p + c, cost("m-anthropic", p, c)))


def test_cli_shows_the_limits_of_a_tenant(gateway: tuple[Proc, Proc]) -> None:
    gw, _ = gateway
    tenant, key = tenant_key(gw)
    post(gw, key, "/v1/chat/completions", {"model": "m-openai", "messages": MSG})
    args = ["limits", "show", "--tenant", tenant, "--url", gw.base, "--admin-key", ADMIN_KEY]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["LIMIT", "PER", "SCOPE"]
    assert any(ln.startswith("plans.metered.limits[1]") and "$1,000.0000" in ln for ln in lines)
    data = orjson.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert {r["measure"] for r in data["rows"]} == {"tokens", "cost"}
    missing = CliRunner().invoke(
        main, ["limits", "show", "--tenant", "nobody", "--url", gw.base, "--admin-key", ADMIN_KEY]
    )
    assert missing.exit_code == 1 and "404" in missing.output and "not found" in missing.output
