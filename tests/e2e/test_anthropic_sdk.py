"""The official anthropic SDK, unchanged, against Lockgate in front of every provider type."""

from __future__ import annotations

import anthropic
import pytest
from harness import Env, make_key

CHAT_MODELS = ["m-openai", "m-azure", "m-anthropic", "m-gemini", "m-mock"]
TOOLS = [
    {
        "name": "lookup",
        "description": "Look a thing up",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
]


def client(env: Env, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=env.base, api_key=key or env.key, max_retries=0)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_messages(e2e: Env, model: str) -> None:
    m = client(e2e).messages.create(
        model=model,
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "hello from anthropic"}],
    )
    assert m.model == model
    assert (
        m.content[0].type == "text" and m.content[0].text == "Mock reply to: hello from anthropic"
    )
    assert m.stop_reason == "end_turn"
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_messages_stream(e2e: Env, model: str) -> None:
    with client(e2e).messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Mock reply to: stream it"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
async def test_async_messages(e2e: Env, model: str) -> None:
    c = anthropic.AsyncAnthropic(base_url=e2e.base, api_key=e2e.key, max_retries=0)
    m = await c.messages.create(
        model=model, max_tokens=50, messages=[{"role": "user", "content": "async anthropic"}]
    )
    assert m.content[0].text == "Mock reply to: async anthropic"  # type: ignore[union-attr]
    async with c.messages.stream(
        model=model, max_tokens=50, messages=[{"role": "user", "content": "async stream"}]
    ) as s:
        final = await s.get_final_message()
    assert final.content[0].text == "Mock reply to: async stream"  # type: ignore[union-attr]
    await c.close()


@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip(e2e: Env, model: str, stream: bool) -> None:
    c = client(e2e)
    first = [{"role": "user", "content": "weather in Paris"}]
    if stream:
        with c.messages.stream(model=model, max_tokens=100, tools=TOOLS, messages=first) as s:  # type: ignore[arg-type]
            m = s.get_final_message()
    else:
        m = c.messages.create(model=model, max_tokens=100, tools=TOOLS, messages=first)  # type: ignore[arg-type]
    assert m.stop_reason == "tool_use"
    use = next(b for b in m.content if b.type == "tool_use")
    assert use.name == "lookup" and use.input == {"query": "weather in Paris"}
    follow = [
        *first,
        {"role": "assistant", "content": m.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "rainy"}],
        },
    ]
    m2 = c.messages.create(model=model, max_tokens=100, tools=TOOLS, messages=follow)  # type: ignore[arg-type]
    assert m2.content[0].text == "Tool result: rainy"  # type: ignore[union-attr]


@pytest.mark.parametrize("model", ["m-anthropic", "m-gemini", "m-openai", "m-mock"])
def test_count_tokens(e2e: Env, model: str) -> None:
    r = client(e2e).messages.count_tokens(
        model=model, messages=[{"role": "user", "content": "count these tokens please"}]
    )
    assert r.input_tokens > 0


def test_error_classes(e2e: Env) -> None:
    c = client(e2e)
    msg = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.AuthenticationError):
        client(e2e, "lg-wrong").messages.create(model="m-mock", max_tokens=5, messages=msg)  # type: ignore[arg-type]
    with pytest.raises(anthropic.NotFoundError) as nf:
        c.messages.create(model="missing", max_tokens=5, messages=msg)  # type: ignore[arg-type]
    assert nf.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        c.messages.create(
            model="m-mock", max_tokens=5, messages=[{"role": "system", "content": "x"}]
        )  # type: ignore[list-item]
    with pytest.raises(anthropic.APIStatusError) as big:
        c.messages.create(
            model="m-mock", max_tokens=5, messages=[{"role": "user", "content": "y" * 300_000}]
        )
    assert big.value.status_code == 413
    with pytest.raises(anthropic.RateLimitError):
        c.messages.create(
            model="m-anthropic",
            max_tokens=5,
            messages=[{"role": "user", "content": "[[mock:status=429]]"}],
        )
    with pytest.raises(anthropic.InternalServerError) as failed:
        c.messages.create(
            model="m-anthropic",
            max_tokens=5,
            messages=[{"role": "user", "content": "[[mock:status=500]]"}],
        )
    assert failed.value.status_code == 502


def test_stream_error_before_first_byte_is_a_status(e2e: Env) -> None:
    with (
        pytest.raises(anthropic.InternalServerError),
        client(e2e).messages.stream(
            model="m-openai",
            max_tokens=5,
            messages=[{"role": "user", "content": "[[mock:status=500]]"}],
        ) as s,
    ):
        s.get_final_message()


def test_permission_denied_by_residency(e2e: Env) -> None:
    key = make_key(e2e.base, "eu-anthropic", "app", residency=["eu"])
    c = client(e2e, key)
    ok = c.messages.create(
        model="m-azure", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert ok.content
    with pytest.raises(anthropic.PermissionDeniedError) as err:
        c.messages.create(
            model="m-gemini", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.body["error"]["type"] == "permission_error"  # type: ignore[index]


def test_upstream_failure_mid_stream_is_an_error_event(e2e: Env) -> None:
    with (
        pytest.raises(anthropic.APIStatusError),
        client(e2e).messages.stream(
            model="m-openai",
            max_tokens=5,
            messages=[{"role": "user", "content": "[[mock:malformed]]"}],
        ) as s,
    ):
        s.get_final_message()
