"""Accounting to the token: a mixed run through the official SDKs against `lockgate
mock-upstream`, then the totals of /admin/v1/usage and the CLI compared with what the upstream
reported — non-streaming, streaming with and without the client asking for usage, both
ingress routes, a stream without usage, an aborted stream, upstream failures and a fallback to
a model with another price."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from click.testing import CliRunner
from harness import Proc, admin, make_key, start_gateway, start_mock

from lockgate.cli import main

PICO = 10**12
PRICES = {"cheap": (0.15, 0.6), "claude": (0.8, 4.0)}


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
  cheap:
    deployments: [{{provider: oai, model: gpt-x}}]
    price: {{input: 0.15, output: 0.6}}
    retry: {{attempts: 1, backoff: 1ms}}
  claude:
    deployments: [{{provider: claude, model: claude-x}}]
    price: {{input: 0.8, output: 4.0}}
  fallback:
    deployments: [{{provider: dead, model: gpt-x}}]
    price: {{input: 99, output: 99}}
    retry: {{attempts: 0}}
    fallbacks: [claude]
observability: {{usage: {{flush_interval: 50ms}}, request_log: info}}
"""


@dataclass
class Run:
    mock: Proc
    gateway: Proc
    key: str
    calls: list[tuple[str, int, int]]  # (billed model, reported input, reported output)

    def reported(self) -> tuple[int, int]:
        stats = httpx.get(self.mock.base + "/_mock/stats").json()
        return stats["usage_input_tokens"], stats["usage_output_tokens"]

    def call(self, model: str, fn: Callable[[], Any]) -> Any:
        before = self.reported()
        result = fn()
        after = self.reported()
        self.calls.append((model, after[0] - before[0], after[1] - before[1]))
        return result


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("exact")
    mock = start_mock(tmp, "--tokens-per-s", "40")
    gateway, _ = start_gateway(tmp, config(mock.base, tmp / "gw.db"))
    try:
        yield Run(mock, gateway, make_key(gateway.base, "acme", "bot"), [])
    finally:
        gateway.stop()
        mock.stop()


def rows(run: Run, path: str, **params: Any) -> list[dict[str, Any]]:
    with admin(run.gateway.base) as c:
        r = c.get(path, params=params)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["rows"]
        return found


def test_mixed_run_totals_equal_the_upstreams_reported_usage(run: Run) -> None:
    oai = openai.OpenAI(base_url=run.gateway.base + "/v1", api_key=run.key, max_retries=0)
    ant = anthropic.Anthropic(base_url=run.gateway.base, api_key=run.key, max_retries=0)

    def msg(text: str) -> list[Any]:
        return [{"role": "user", "content": text}]

    # OpenAI ingress: plain, streamed with usage, streamed without asking for usage
    r = run.call("cheap", lambda: oai.chat.completions.create(model="cheap", messages=msg("one")))
    assert (
        r.usage is not None
        and (r.usage.prompt_tokens, r.usage.completion_tokens) == run.calls[-1][1:]
    )
    chunks = run.call(
        "cheap",
        lambda: list(
            oai.chat.completions.create(
                model="cheap",
                messages=msg("two please"),
                stream=True,
                stream_options={"include_usage": True},
            )
        ),
    )
    assert chunks[-1].usage.completion_tokens == run.calls[-1][2]
    run.call(
        "cheap",
        lambda: list(
            oai.chat.completions.create(model="cheap", messages=msg("three"), stream=True)
        ),
    )
    # Anthropic ingress, plain and streamed, to the anthropic deployment
    m = run.call(
        "claude",
        lambda: ant.messages.create(model="claude", max_tokens=50, messages=msg("four")),
    )
    assert (m.usage.input_tokens, m.usage.output_tokens) == run.calls[-1][1:]

    def stream_claude() -> Any:
        with ant.messages.stream(model="claude", max_tokens=50, messages=msg("five")) as s:
            return s.get_final_message()

    final = run.call("claude", stream_claude)
    assert final.usage.output_tokens == run.calls[-1][2]
    # Anthropic ingress to the OpenAI deployment, and a fallback priced as what served it
    run.call(
        "cheap", lambda: ant.messages.create(model="cheap", max_tokens=50, messages=msg("six"))
    )
    run.call("claude", lambda: oai.chat.completions.create(model="fallback", messages=msg("seven")))

    # Upstream failures: nothing reported, nothing billed
    def fail() -> None:
        with pytest.raises(openai.InternalServerError):
            oai.chat.completions.create(model="cheap", messages=msg("[[mock:status=500]] x"))

    run.call("cheap", fail)
    assert run.calls[-1][1:] == (0, 0)
    # The provider reports no usage: Lockgate counts it
    run.call(
        "cheap",
        lambda: list(
            oai.chat.completions.create(
                model="cheap", messages=msg("[[mock:nousage]] eight"), stream=True
            )
        ),
    )
    assert run.calls[-1][1:] == (0, 0)
    # The client walks away after the first chunk: billed what was produced
    stream = oai.chat.completions.create(
        model="cheap", messages=msg("nine ten eleven twelve thirteen fourteen"), stream=True
    )
    next(iter(stream))
    stream.close()

    records = wait_for_records(run, 10)
    by_id = {r["id"]: r for r in records}
    counted = [r for r in records if r["usage_source"] == "counted"]
    assert len(counted) == 2 and all(r["output_tokens"] > 0 for r in counted)
    aborted = next(r for r in records if r["status"] == 499)
    assert aborted["usage_source"] == "counted" and aborted["output_tokens"] < 10
    failed = next(r for r in records if r["status"] >= 500)
    assert failed["attempts"] == 2 and failed["input_tokens"] == failed["output_tokens"] == 0
    fell = next(r for r in records if r["fallback"])
    assert (fell["model"], fell["served_model"], fell["deployment"]) == (
        "fallback",
        "claude",
        "claude/claude-x",
    )
    assert {r["ingress"] for r in records} == {"openai", "anthropic"}
    assert len(by_id) == 10

    expected: dict[str, list[int]] = {}
    for model, inp, out in run.calls:
        acc = expected.setdefault(model, [0, 0, 0])
        pin, pout = PRICES[model]
        acc[0] += inp
        acc[1] += out
        acc[2] += round((inp * pin + out * pout) * 1e-6 * PICO)
    for r in counted:
        acc = expected["cheap"]
        acc[0] += r["input_tokens"]
        acc[1] += r["output_tokens"]
        acc[2] += round((r["input_tokens"] * 0.15 + r["output_tokens"] * 0.6) * 1e-6 * PICO)
    usage = {u["model"]: u for u in rows(run, "/usage", group_by="model")}
    for model, (inp, out, pico) in expected.items():
        got = usage[model]
        assert (got["input_tokens"], got["output_tokens"]) == (inp, out), model
        assert got["cost"] == pico / PICO, model
    assert usage["cheap"]["requests"] == 7 and usage["claude"]["requests"] == 3
    assert usage["cheap"]["errors"] == 1 and usage["cheap"]["counted_requests"] == 2

    db = run.gateway.log_path.parent / "gw.db"
    out = CliRunner().invoke(
        main, ["usage", "--storage", f"sqlite:///{db}", "--group-by", "model", "--json"]
    )
    assert out.exit_code == 0, out.output
    cli = {u["model"]: u for u in orjson.loads(out.output)["rows"]}
    assert cli == usage
    table = CliRunner().invoke(
        main, ["requests", "--storage", f"sqlite:///{db}", "--status", "5xx"]
    )
    assert table.exit_code == 0 and "cheap" in table.output and "502" in table.output
    log = run.gateway.output()
    lines = [orjson.loads(x) for x in log.splitlines() if x.startswith('{"event":"request"')]
    assert len(lines) == 10 and run.key not in log


def wait_for_records(run: Run, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        found = rows(run, "/requests", limit=100)
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
