"""The official openai SDK, unchanged, against Lockgate in front of every provider type."""

from __future__ import annotations

import json

import openai
import pytest
from harness import UPSTREAM_KEY, Env, make_key

CHAT_MODELS = ["m-openai", "m-azure", "m-anthropic", "m-gemini", "m-mock"]
EMBED_MODELS = ["e-openai", "e-azure", "e-gemini"]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a thing up",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


def client(env: Env, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=env.base + "/v1", api_key=key or env.key, max_retries=0)


def aclient(env: Env) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=env.base + "/v1", api_key=env.key, max_retries=0)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat(e2e: Env, model: str) -> None:
    r = client(e2e).chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello from the sdk"},
        ],
    )
    assert r.model == model
    assert r.choices[0].message.content == "Mock reply to: hello from the sdk"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_stream_with_usage(e2e: Env, model: str) -> None:
    chunks = list(
        client(e2e).chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "stream me please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: stream me please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["m-openai", "m-azure"])
def test_stream_usage_is_asked_upstream_and_stripped(e2e: Env, model: str) -> None:
    chunks = list(
        client(e2e).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "no usage for me"}], stream=True
        )
    )
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    upstream = e2e.mock_stats()["last_request"]["json"]
    assert upstream["stream_options"] == {"include_usage": True}


def test_client_credential_is_never_forwarded(e2e: Env) -> None:
    client(e2e).chat.completions.create(
        model="m-openai", messages=[{"role": "user", "content": "x"}]
    )
    headers = e2e.mock_stats()["last_request"]["headers"]
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert e2e.key not in json.dumps(headers)


@pytest.mark.parametrize("model", CHAT_MODELS)
async def test_async_chat_and_stream(e2e: Env, model: str) -> None:
    c = aclient(e2e)
    r = await c.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "async hi"}]
    )
    assert r.choices[0].message.content == "Mock reply to: async hi"
    stream = await c.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "async stream"}], stream=True
    )
    text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    assert text == "Mock reply to: async stream"
    await c.close()


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_tool_call_round_trip(e2e: Env, model: str) -> None:
    c = client(e2e)
    messages: list[dict[str, object]] = [{"role": "user", "content": "find the weather"}]
    r = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"query": "find the weather"}
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "lookup", "arguments": call.function.arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny and warm"})
    r2 = c.chat.completions.create(model=model, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert r2.choices[0].message.content == "Tool result: sunny and warm"


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_streamed_tool_call(e2e: Env, model: str) -> None:
    chunks = list(
        client(e2e).chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "call it"}],
            tools=TOOLS,  # type: ignore[arg-type]
            stream=True,
        )
    )
    deltas = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert deltas[0].function is not None and deltas[0].function.name == "lookup"
    args = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(args) == {"query": "call it"}
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"


@pytest.mark.parametrize("model", EMBED_MODELS)
@pytest.mark.parametrize("fmt", ["float", "base64"])
def test_embeddings(e2e: Env, model: str, fmt: str) -> None:
    r = client(e2e).embeddings.create(model=model, input=["alpha", "beta"], encoding_format=fmt)  # type: ignore[arg-type]
    assert [d.index for d in r.data] == [0, 1]
    assert len(r.data[0].embedding) > 8
    assert r.data[0].embedding != r.data[1].embedding
    assert r.usage.prompt_tokens > 0


def test_sdk_default_embeddings(e2e: Env) -> None:
    r = client(e2e).embeddings.create(model="e-openai", input="default encoding")
    assert isinstance(r.data[0].embedding[0], float)


def test_models_lists_only_what_the_plan_allows(e2e: Env) -> None:
    ids = {m.id for m in client(e2e).models.list()}
    assert {"m-openai", "m-mock", "e-openai"} <= ids
    narrow = make_key(e2e.base, "narrow-co", "app", plan="narrow")
    c = client(e2e, narrow)
    assert [m.id for m in c.models.list()] == ["m-mock"]
    with pytest.raises(openai.NotFoundError) as err:
        c.chat.completions.create(model="m-openai", messages=[{"role": "user", "content": "x"}])
    assert "does not exist" in str(err.value)
    ok = c.chat.completions.create(model="m-mock", messages=[{"role": "user", "content": "x"}])
    assert ok.choices[0].message.content


def test_fallback_to_another_model(e2e: Env) -> None:
    raw = client(e2e).chat.completions.with_raw_response.create(
        model="m-deadfirst", messages=[{"role": "user", "content": "survive"}]
    )
    r = raw.parse()
    assert r.choices[0].message.content == "Mock reply to: survive"
    # The response names the model that served, and says a fallback served it.
    assert r.model == "m-anthropic"
    assert raw.headers["x-lockgate-model"] == "m-anthropic"
    assert raw.headers["x-lockgate-fallback"] == "true"


def test_error_classes(e2e: Env) -> None:
    c = client(e2e)
    msg = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.AuthenticationError):
        client(e2e, "lg-not-a-real-key").chat.completions.create(model="m-mock", messages=msg)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="no-such-model", messages=msg)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as bad:
        c.chat.completions.create(model="m-mock", messages=[{"role": "wizard", "content": "x"}])  # type: ignore[misc, list-item]
    assert bad.value.body["param"] == "messages[0].role"  # type: ignore[index]
    with pytest.raises(openai.APIStatusError) as big:
        c.chat.completions.create(
            model="m-mock", messages=[{"role": "user", "content": "x" * 300_000}]
        )
    assert big.value.status_code == 413
    assert "server.max_body_bytes" in big.value.message  # names the setting to change
    with pytest.raises(openai.RateLimitError) as limited:
        c.chat.completions.create(
            model="m-openai", messages=[{"role": "user", "content": "[[mock:status=429]]"}]
        )
    assert limited.value.response.headers["retry-after"]
    with pytest.raises(openai.InternalServerError) as failed:
        c.chat.completions.create(
            model="m-openai", messages=[{"role": "user", "content": "[[mock:status=500]]"}]
        )
    assert failed.value.status_code == 502
    assert "provider 'oai' answered 500" in str(failed.value)


def test_residency_is_enforced(e2e: Env) -> None:
    eu = client(e2e, make_key(e2e.base, "eu-co", "app", residency=["eu"]))
    msg = [{"role": "user", "content": "where am i"}]
    assert eu.chat.completions.create(model="m-azure", messages=msg).choices  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError) as err:
        eu.chat.completions.create(model="m-openai", messages=msg)  # type: ignore[arg-type]
    assert "residency" in str(err.value)


def test_request_id_header(e2e: Env) -> None:
    raw = client(e2e).chat.completions.with_raw_response.create(
        model="m-mock", messages=[{"role": "user", "content": "id please"}]
    )
    assert raw.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("model", ["m-openai", "m-anthropic", "m-gemini"])
def test_stream_failing_before_its_first_token_is_an_error_status(e2e: Env, model: str) -> None:
    # Nothing reached the client yet, so the failure is a status the SDK raises at once
    # (after the model's retry) rather than an event in a half-sent stream.
    with pytest.raises(openai.InternalServerError) as err:
        client(e2e).chat.completions.create(
            model=model, stream=True, messages=[{"role": "user", "content": "[[mock:malformed]]"}]
        )
    assert err.value.status_code == 502
    assert "stream failed" in str(err.value) and "provider '" in str(err.value)


def test_stream_falls_back_before_the_first_byte(e2e: Env) -> None:
    chunks = list(
        client(e2e).chat.completions.create(
            model="m-deadfirst", stream=True, messages=[{"role": "user", "content": "still here"}]
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: still here"
