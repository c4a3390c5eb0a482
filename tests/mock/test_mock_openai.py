"""OpenAI and Azure OpenAI routes, validated against the official SDK's pydantic types."""

import base64
import json
import struct
from typing import Any

import httpx
import pytest
from mock_helpers import OPENAI_AUTH, sse_events, sse_json
from openai.types import CreateEmbeddingResponse, Model
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageFunctionToolCall,
)

TOOLS = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]


def chat(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "What is the weather in Paris today?"},
        ],
        **extra,
    }


async def test_chat_completion(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=chat())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    c = ChatCompletion.model_validate(r.json())
    assert c.object == "chat.completion" and c.model == "gpt-4o-mini"
    assert c.choices[0].message.content == "Mock reply to: What is the weather in Paris today?"
    assert c.choices[0].finish_reason == "stop"
    assert c.usage is not None and c.usage.completion_tokens == 10
    assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens


async def test_chat_max_tokens_and_list_content(client: httpx.AsyncClient) -> None:
    body = chat(max_completion_tokens=2)
    body["messages"][1]["content"] = [{"type": "text", "text": "hi"}]
    c = ChatCompletion.model_validate(
        (await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)).json()
    )
    assert c.choices[0].message.content == "Mock reply"
    assert c.choices[0].finish_reason == "length"


async def test_chat_tool_call_then_tool_result(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=chat(tools=TOOLS))
    c = ChatCompletion.model_validate(r.json())
    choice = c.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.type == "function" and call.function.name == "search"
    assert json.loads(call.function.arguments) == {"query": "What is the weather in Paris today?"}

    follow = chat(tools=TOOLS)
    follow["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=follow)
    answer = ChatCompletion.model_validate(r.json()).choices[0]
    assert answer.finish_reason == "stop" and answer.message.content == "Tool result: sunny, 21C"


async def test_forced_and_disabled_tool_choice(client: httpx.AsyncClient) -> None:
    tools = [*TOOLS, {"type": "function", "function": {"name": "lookup"}}]
    forced = chat(tools=tools, tool_choice={"type": "function", "function": {"name": "lookup"}})
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=forced)
    calls = ChatCompletion.model_validate(r.json()).choices[0].message.tool_calls
    assert calls is not None and isinstance(calls[0], ChatCompletionMessageFunctionToolCall)
    assert calls[0].function.name == "lookup"
    r = await client.post(
        "/v1/chat/completions", headers=OPENAI_AUTH, json=chat(tools=tools, tool_choice="none")
    )
    assert ChatCompletion.model_validate(r.json()).choices[0].message.tool_calls is None


@pytest.mark.parametrize("include_usage", [True, False])
async def test_chat_stream(client: httpx.AsyncClient, include_usage: bool) -> None:
    body = chat(stream=True, stream_options={"include_usage": include_usage})
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)
    assert r.headers["content-type"] == "text/event-stream"
    events = sse_events(r.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [ChatCompletionChunk.model_validate(c) for c in sse_json(r.text)]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: What is the weather in Paris today?"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    usage_chunks = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
        assert chunks[-1].choices == [] and usage_chunks[0].usage is not None
        assert usage_chunks[0].usage.completion_tokens == 10
    else:
        assert usage_chunks == [] and all(c.choices for c in chunks)
        assert all("usage" not in c for c in sse_json(r.text))


async def test_chat_stream_tool_call(client: httpx.AsyncClient) -> None:
    body = chat(stream=True, tools=TOOLS)
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)
    chunks = [ChatCompletionChunk.model_validate(c) for c in sse_json(r.text)]
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].index == 0 and deltas[0].id and deltas[0].function is not None
    assert deltas[0].function.name == "search" and deltas[0].type == "function"
    assert all(d.id is None and d.index == 0 for d in deltas[1:])
    args = "".join((d.function.arguments or "") for d in deltas if d.function)
    assert json.loads(args) == {"query": "What is the weather in Paris today?"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_embeddings_float_and_base64(client: httpx.AsyncClient) -> None:
    body = {"model": "text-embedding-3-small", "input": ["a", "bb"], "dimensions": 8}
    r = await client.post("/v1/embeddings", headers=OPENAI_AUTH, json=body)
    e = CreateEmbeddingResponse.model_validate(r.json())
    assert [d.index for d in e.data] == [0, 1] and len(e.data[0].embedding) == 8
    assert e.usage.prompt_tokens == 2 and e.model == "text-embedding-3-small"

    r = await client.post(
        "/v1/embeddings", headers=OPENAI_AUTH, json={**body, "encoding_format": "base64"}
    )
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    decoded = struct.unpack("<8f", raw)
    assert decoded == pytest.approx(e.data[0].embedding, rel=1e-6)


async def test_embeddings_token_arrays_and_bad_input(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/embeddings", headers=OPENAI_AUTH, json={"model": "e", "input": [[1, 2], [3]]}
    )
    assert len(r.json()["data"]) == 2 and len(r.json()["data"][0]["embedding"]) == 1536
    r = await client.post("/v1/embeddings", headers=OPENAI_AUTH, json={"model": "e", "input": 5})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


async def test_models(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models", headers=OPENAI_AUTH)
    body = r.json()
    assert body["object"] == "list"
    models = [Model.model_validate(m) for m in body["data"]]
    assert "demo-chat" in {m.id for m in models}


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer "}, {"authorization": "x"}])
async def test_bearer_required(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    r = await client.post("/v1/chat/completions", headers=headers, json=chat())
    assert r.status_code == 401
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "invalid_api_key"


async def test_bad_bodies(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, content=b"{nope")
    assert r.status_code == 400 and "error" in r.json()
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json={"messages": []})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]


async def test_azure_routes(client: httpx.AsyncClient) -> None:
    path = "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21"
    r = await client.post(path, headers={"api-key": "k"}, json=chat(model="ignored"))
    c = ChatCompletion.model_validate(r.json())
    assert c.model == "my-dep"
    r = await client.post(path, headers={"api-key": "k"}, json=chat(stream=True))
    assert all(ChatCompletionChunk.model_validate(x).model == "my-dep" for x in sse_json(r.text))
    r = await client.post(
        "/openai/deployments/emb/embeddings?api-version=2024-10-21",
        headers={"api-key": "k"},
        json={"input": "x", "dimensions": 4},
    )
    assert CreateEmbeddingResponse.model_validate(r.json()).model == "emb"


async def test_azure_auth_and_api_version(client: httpx.AsyncClient) -> None:
    path = "/openai/deployments/d/chat/completions"
    r = await client.post(path + "?api-version=1", headers=OPENAI_AUTH, json=chat())
    assert r.status_code == 401 and "api-key" in r.json()["error"]["message"]
    r = await client.post(path, headers={"api-key": "k"}, json=chat())
    assert r.status_code == 400 and "api-version" in r.json()["error"]["message"]
    r = await client.post("/openai/deployments/d/other?api-version=1", headers={"api-key": "k"})
    assert r.status_code == 404
