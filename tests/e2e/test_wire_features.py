"""Provider features through the gateway, with the official SDKs against `lockgate
mock-upstream`: same-format passthrough (new parameters reach the provider unchanged),
thinking blocks and their signatures through a tool loop, prompt caching and its prices,
reasoning mapped across formats, dropped parameters named, usage-less streams counted, 529.

What reached the upstream is read from the mock's own record (``/_mock/stats``); the mock
checks returned thinking signatures and keeps a prompt cache per ``cache_control`` prefix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from harness import Env, admin, gateway_config, make_key, start_gateway, start_mock

EXTRA = """\
  m-claude-priced:
    deployments: [{provider: claude, model: claude-x}]
    price: {input: 3.0, output: 15.0, cached_input: 0.3, cache_write: 3.75}
"""
POLICIES = """\
observability: {usage: {flush_interval: 50ms}}
policies:
  - name: pii-guarded
    match: {tenants: [guarded]}
    guards:
      - {type: pii, on: [input, output], action: redact}
"""
EMAIL = "jane.doe@example.com"
TOOLS = [
    {
        "name": "lookup",
        "description": "Look a thing up",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
        "cache_control": {"type": "ephemeral"},
    }
]
THINKING = {"type": "enabled", "budget_tokens": 2048}


class Keys:
    def __init__(self, plain: str, guarded: str) -> None:
        self.plain = plain
        self.guarded = guarded


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, Keys]]:
    tmp: Path = tmp_path_factory.mktemp("wire")
    mock = start_mock(tmp)
    text = gateway_config(mock.base, tmp / "gw.db", extra_models=EXTRA) + POLICIES
    gateway, _ = start_gateway(tmp, text)
    try:
        keys = Keys(make_key(gateway.base, "acme", "bot"), make_key(gateway.base, "guarded", "bot"))
        yield Env(mock, gateway, keys.plain, tmp), keys
    finally:
        gateway.stop()
        mock.stop()


def oai(env: Env, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=env.base + "/v1", api_key=key or env.key, max_retries=0)


def claude(env: Env, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=env.base, api_key=key or env.key, max_retries=0)


def upstream(env: Env) -> dict[str, Any]:
    last: dict[str, Any] = env.mock_stats()["last_request"]
    return last


def records(env: Env, request_id: str) -> dict[str, Any]:
    """The request-log row of one call (usage records are written in batches)."""
    with admin(env.base) as c:
        for _ in range(100):
            rows = c.get("/requests", params={"limit": 200}).json()["rows"]
            found = [r for r in rows if r["id"] == request_id]
            if found:
                return dict(found[0])
            time.sleep(0.05)
    raise AssertionError(f"no record for {request_id}")


# --- same-format passthrough -----------------------------------------------------------------

FUTURE = {"some_future_param": {"a": [1, 2.5, "x", None], "b": {"deep": True}}}


@pytest.mark.parametrize("model", ["m-openai", "m-azure"])
def test_a_new_openai_parameter_reaches_an_openai_upstream_unchanged(
    env: tuple[Env, Keys], model: str
) -> None:
    e, _ = env
    sent = {"model": model, "messages": [{"role": "user", "content": "hello"}], **FUTURE}
    sent |= {"reasoning_effort": "high", "verbosity": "low", "service_tier": "flex"}
    r = httpx.post(
        e.base + "/v1/chat/completions",
        headers={"authorization": f"Bearer {e.key}"},
        json=sent,
    )
    assert r.status_code == 200 and r.json()["model"] == model
    assert "x-lockgate-dropped-params" not in r.headers
    got = upstream(e)["json"]
    # Everything but the model name is what the client sent, to the byte.
    assert orjson.dumps({**got, "model": model}) == orjson.dumps(sent)


def test_openai_sdk_extra_body_and_stream_through_passthrough(env: tuple[Env, Keys]) -> None:
    e, _ = env
    c = oai(e)
    r = c.chat.completions.create(
        model="m-openai",
        messages=[{"role": "user", "content": "passthrough"}],
        reasoning_effort="low",
        parallel_tool_calls=False,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice="none",
        extra_body=FUTURE,
    )
    got = upstream(e)["json"]
    assert got["reasoning_effort"] == "low" and got["parallel_tool_calls"] is False
    assert got["some_future_param"] == FUTURE["some_future_param"]
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens > 0
    # A stream: usage is asked for upstream, and held back from a client that did not ask.
    chunks = list(
        c.chat.completions.create(
            model="m-openai", messages=[{"role": "user", "content": "stream it"}], stream=True
        )
    )
    assert upstream(e)["json"]["stream_options"] == {"include_usage": True}
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == (
        "Mock reply to: stream it"
    )
    assert all(ch.choices for ch in chunks) and all(ch.model == "m-openai" for ch in chunks)
    with_usage = list(
        c.chat.completions.create(
            model="m-openai",
            messages=[{"role": "user", "content": "stream it"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens > 0


# --- thinking, signatures and prompt caching (Anthropic) ---------------------------------------


def _tool_loop(c: anthropic.Anthropic, model: str, stream: bool) -> tuple[Any, Any]:
    first = [{"role": "user", "content": "weather in Paris"}]
    system = [
        {"type": "text", "text": "You are terse. " * 20, "cache_control": {"type": "ephemeral"}}
    ]
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": 4096,
        "system": system,
        "tools": TOOLS,
        "thinking": THINKING,
    }
    if stream:
        with c.messages.stream(messages=first, **kwargs) as s:  # type: ignore[arg-type]
            m = s.get_final_message()
    else:
        m = c.messages.create(messages=first, **kwargs)  # type: ignore[arg-type]
    assert [b.type for b in m.content] == ["thinking", "tool_use"]
    assert m.content[0].signature.startswith("mocksig-")  # type: ignore[union-attr]
    use = m.content[1]
    follow = [
        *first,
        {"role": "assistant", "content": [b.model_dump() for b in m.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],  # type: ignore[union-attr]
        },
    ]
    # The mock answers 400, as Anthropic does, unless the thinking block and its signature
    # come back intact.
    second = c.messages.create(messages=follow, **kwargs)  # type: ignore[arg-type]
    assert second.content[-1].text == "Tool result: sunny"  # type: ignore[union-attr]
    return m, second


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_tool_loop_and_prompt_caching_to_claude(
    env: tuple[Env, Keys], stream: bool
) -> None:
    e, _keys = env
    c = claude(e)
    first, second = _tool_loop(c, "m-claude-priced", stream)
    got = upstream(e)["json"]
    assert got["thinking"] == THINKING and got["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assert got["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert got["messages"][1]["content"][0]["type"] == "thinking"
    # The system + tools prefix was written once and read after: each reported as such.
    u1, u2 = first.usage, second.usage
    assert (u1.cache_creation_input_tokens or 0) > 0 or (u1.cache_read_input_tokens or 0) > 0
    assert (u2.cache_read_input_tokens or 0) > 0 and u2.cache_creation_input_tokens == 0


def test_thinking_and_cache_control_survive_the_decoded_path(env: tuple[Env, Keys]) -> None:
    """A tenant with a PII guard: the request is redacted and re-encoded, the response
    decoded; thinking blocks, signatures and cache_control still make the round trip."""
    e, keys = env
    _tool_loop(claude(e, keys.guarded), "m-anthropic", stream=True)
    got = upstream(e)["json"]
    assert got["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assert got["thinking"] == THINKING


def test_prompt_cache_prices_reach_the_request_log(env: tuple[Env, Keys]) -> None:
    e, _ = env
    c = claude(e)
    system = [
        {"type": "text", "text": "Cached rules. " * 40, "cache_control": {"type": "ephemeral"}}
    ]
    calls = [
        c.messages.with_raw_response.create(
            model="m-claude-priced",
            max_tokens=50,
            system=system,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": f"question {i}"}],
        )
        for i in range(2)
    ]
    for raw in calls:
        m = raw.parse()
        u = m.usage
        read, write = u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0
        expected = (u.input_tokens * 3.0 + read * 0.3 + write * 3.75 + u.output_tokens * 15.0) / 1e6
        row = records(e, raw.headers["x-request-id"])
        assert row["cached_tokens"] == read and row["cache_write_tokens"] == write
        assert row["input_tokens"] == u.input_tokens + read + write
        assert row["cost"] == pytest.approx(expected, rel=1e-9)
    assert calls[1].parse().usage.cache_read_input_tokens


# --- across formats ----------------------------------------------------------------------------


def test_reasoning_effort_to_claude_becomes_thinking(env: tuple[Env, Keys]) -> None:
    e, _ = env
    r = oai(e).chat.completions.with_raw_response.create(
        model="m-anthropic",
        messages=[{"role": "user", "content": "think hard"}],
        reasoning_effort="medium",
        max_completion_tokens=500,
        seed=7,
        extra_headers={"x-lockgate-include-reasoning": "true"},
    )
    got = upstream(e)["json"]
    assert got["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert got["max_tokens"] == 8192 + 500  # room for the answer beyond the budget
    assert r.headers["x-lockgate-dropped-params"] == "seed"
    parsed = r.parse()
    message = parsed.choices[0].message
    assert message.content == "Mock reply to: think hard"  # never the reasoning
    # Anthropic bills thinking inside output_tokens without a count of its own: counted.
    assert parsed.usage is not None and parsed.usage.completion_tokens_details is not None
    reasoning = parsed.usage.completion_tokens_details.reasoning_tokens or 0
    assert 0 < reasoning < parsed.usage.completion_tokens
    assert (message.model_extra or {})["reasoning_content"] == "Thinking about: think hard"
    assert records(e, r.headers["x-request-id"])["dropped_params"] == ["seed"]


def test_reasoning_text_only_when_opted_in_and_apart_in_streams(env: tuple[Env, Keys]) -> None:
    e, _ = env
    c = oai(e)
    plain = c.chat.completions.create(
        model="m-anthropic", messages=[{"role": "user", "content": "q"}], reasoning_effort="low"
    )
    assert "reasoning_content" not in (plain.choices[0].message.model_extra or {})
    chunks = list(
        c.chat.completions.create(
            model="m-anthropic",
            messages=[{"role": "user", "content": "q"}],
            reasoning_effort="low",
            stream=True,
            extra_headers={"x-lockgate-include-reasoning": "1"},
        )
    )
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    thought = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert thought == "Thinking about: q"
    assert "".join(d.content or "" for d in deltas) == "Mock reply to: q"


def test_thinking_to_openai_and_gemini_is_mapped(env: tuple[Env, Keys]) -> None:
    e, _ = env
    c = claude(e)
    c.messages.create(
        model="m-openai",
        max_tokens=100,
        thinking={"type": "enabled", "budget_tokens": 20000},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert upstream(e)["json"]["reasoning_effort"] == "high"
    c.messages.create(
        model="m-gemini",
        max_tokens=100,
        thinking={"type": "enabled", "budget_tokens": 3000},
        messages=[{"role": "user", "content": "hi"}],
    )
    config = upstream(e)["json"]["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 3000}
    assert config["maxOutputTokens"] == 3100
    r = oai(e).chat.completions.create(
        model="m-gemini", messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
    )
    assert upstream(e)["json"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 2048}
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens > 0


def test_cached_tokens_reported_in_each_format(env: tuple[Env, Keys]) -> None:
    e, _ = env
    m = claude(e).messages.create(
        model="m-openai",
        max_tokens=50,
        messages=[{"role": "user", "content": "[[mock:cached=3]] x y"}],
    )
    assert m.usage.cache_read_input_tokens == 3
    prompt = [
        {"type": "text", "text": "long shared prefix " * 30, "cache_control": {"type": "ephemeral"}}
    ]
    c = oai(e)
    for _ in range(2):
        r = c.chat.completions.create(
            model="m-claude-priced",
            messages=[{"role": "system", "content": prompt}, {"role": "user", "content": "q"}],  # type: ignore[misc, list-item]
        )
    assert upstream(e)["json"]["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert r.usage is not None and r.usage.prompt_tokens_details is not None
    assert r.usage.prompt_tokens_details.cached_tokens > 0


# --- usage-less streams, 529, redaction -------------------------------------------------------


@pytest.mark.parametrize("model", ["m-openai", "m-anthropic", "m-gemini"])
def test_a_stream_without_usage_is_counted_for_anthropic_clients(
    env: tuple[Env, Keys], model: str
) -> None:
    e, _ = env
    with claude(e).messages.stream(
        model=model,
        max_tokens=100,
        messages=[{"role": "user", "content": "[[mock:nousage]] count me"}],
    ) as s:
        final = s.get_final_message()
        request_id = s.response.headers["x-request-id"]
    assert final.usage.output_tokens > 0
    row = records(e, request_id)
    assert row["usage_source"] == "counted" and row["output_tokens"] > 0 and row["input_tokens"] > 0


def test_an_openai_stream_without_usage_gets_a_counted_usage_chunk(env: tuple[Env, Keys]) -> None:
    e, _ = env
    chunks = list(
        oai(e).chat.completions.create(
            model="m-openai",
            messages=[{"role": "user", "content": "[[mock:nousage]] count me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_overloaded_claude_is_529_for_anthropic_clients_503_for_openai(
    env: tuple[Env, Keys],
) -> None:
    e, _ = env
    with pytest.raises(anthropic.OverloadedError) as err:
        claude(e).messages.create(
            model="m-anthropic",
            max_tokens=10,
            messages=[{"role": "user", "content": "[[mock:status=529]]"}],
        )
    assert err.value.status_code == 529
    with (
        pytest.raises(anthropic.OverloadedError),
        claude(e).messages.stream(
            model="m-anthropic",
            max_tokens=10,
            messages=[{"role": "user", "content": "[[mock:status=529]] streamed"}],
        ) as s,
    ):
        s.get_final_message()
    with pytest.raises(openai.InternalServerError) as oerr:
        oai(e).chat.completions.create(
            model="m-anthropic", messages=[{"role": "user", "content": "[[mock:status=529]]"}]
        )
    assert oerr.value.status_code == 503


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["m-openai", "m-anthropic"])
def test_a_redacted_prompt_never_reaches_the_provider_unredacted(
    env: tuple[Env, Keys], model: str, stream: bool
) -> None:
    e, keys = env
    if model == "m-openai":
        c = oai(e, keys.guarded)
        messages = [{"role": "user", "content": f"mail {EMAIL} please"}]
        # A field no guard reads must not carry the text past the guards either.
        unread = {"prediction": {"type": "content", "content": f"to {EMAIL}"}}
        out = c.chat.completions.create(
            model=model, messages=messages, stream=stream, extra_body=unread
        )  # type: ignore[call-overload]
        list(out) if stream else None
    else:
        a = claude(e, keys.guarded)
        msgs = [{"role": "user", "content": "mail the team please"}]  # nothing to redact here
        extra = {"container": f"box of {EMAIL}"}  # ... but a field the guards do not read
        if stream:
            with a.messages.stream(
                model=model, max_tokens=50, messages=msgs, extra_body=extra
            ) as s:  # type: ignore[arg-type]
                s.get_final_message()
        else:
            a.messages.create(model=model, max_tokens=50, messages=msgs, extra_body=extra)  # type: ignore[arg-type]
    raw = orjson.dumps(upstream(e)["json"]).decode()
    assert EMAIL not in raw and "mail" in raw


def test_anthropic_beta_headers_go_with_the_clients_body(env: tuple[Env, Keys]) -> None:
    e, _ = env
    beta = "interleaved-thinking-2025-05-14,extended-cache-ttl-2025-04-11"
    m = claude(e).messages.create(
        model="m-anthropic",
        max_tokens=50,
        messages=[{"role": "user", "content": "beta"}],
        extra_headers={"anthropic-beta": beta},
    )
    assert m.model == "m-anthropic"
    last = upstream(e)
    assert last["headers"]["anthropic-beta"] == beta
    assert last["headers"]["x-api-key"] != e.key  # the gateway's credential, not the client's


@pytest.mark.parametrize("stream", [False, True])
def test_passthrough_is_per_attempt_a_fallback_in_another_format_is_translated(
    env: tuple[Env, Keys], stream: bool
) -> None:
    """m-deadfirst: an OpenAI deployment that cannot connect, then a fallback to Anthropic."""
    e, _ = env
    raw = oai(e).chat.completions.with_raw_response.create(
        model="m-deadfirst",
        messages=[{"role": "user", "content": "fall back"}],
        stream=stream,
        extra_body=FUTURE,
    )
    got = upstream(e)
    assert got["path"] == "/v1/messages" and got["json"]["max_tokens"] > 0
    assert "some_future_param" not in got["json"]
    assert raw.headers["x-lockgate-fallback"] == "true"
    assert raw.headers["x-lockgate-dropped-params"] == "some_future_param"
    parsed = raw.parse()
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)  # type: ignore[union-attr]
    else:
        text = parsed.choices[0].message.content  # type: ignore[union-attr]
    assert text == "Mock reply to: fall back"


def test_an_abandoned_passthrough_stream_is_billed_what_was_produced(
    env: tuple[Env, Keys],
) -> None:
    e, _ = env
    with claude(e).messages.with_streaming_response.create(
        model="m-anthropic",
        max_tokens=100,
        stream=True,
        messages=[{"role": "user", "content": "[[mock:stall=2]] one two three four five six"}],
    ) as response:
        request_id = response.headers["x-request-id"]
        next(response.iter_bytes())
    row = records(e, request_id)
    assert row["status"] == 499 and row["usage_source"] == "counted"
    assert row["input_tokens"] > 0 and row["output_tokens"] < 20


def test_an_openai_tool_loop_with_reasoning_against_claude(env: tuple[Env, Keys]) -> None:
    """An OpenAI client cannot send thinking blocks back: the turn after a tool call goes
    without thinking (named as dropped) rather than failing as Anthropic would make it."""
    e, _ = env
    c = oai(e)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    first = [{"role": "user", "content": "weather in Rome"}]
    r = c.chat.completions.create(
        model="m-anthropic",
        messages=first,
        tools=tools,
        reasoning_effort="low",  # type: ignore[arg-type]
    )
    assert upstream(e)["json"]["thinking"]["budget_tokens"] == 2048
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    follow = [
        *first,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    raw = c.chat.completions.with_raw_response.create(
        model="m-anthropic",
        messages=follow,
        tools=tools,
        reasoning_effort="low",  # type: ignore[arg-type]
    )
    assert raw.parse().choices[0].message.content == "Tool result: sunny"
    assert raw.headers["x-lockgate-dropped-params"] == "reasoning_effort"
    assert "thinking" not in upstream(e)["json"]
