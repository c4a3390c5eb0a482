"""Anthropic Messages routes, validated against the official SDK's pydantic types."""

from typing import Any

import httpx
import pytest
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from mock_helpers import ANTHROPIC_AUTH, sse_events
from pydantic import TypeAdapter

EVENTS: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
TOOLS = [{"name": "search", "input_schema": {"type": "object"}}]


def messages(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 100,
        "system": "be brief",
        "messages": [{"role": "user", "content": "What is the weather in Paris today?"}],
        **extra,
    }


async def test_message(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=messages())
    assert r.status_code == 200
    m = Message.model_validate(r.json())
    assert m.type == "message" and m.role == "assistant" and m.model == "claude-3-5-haiku-latest"
    assert m.content[0].type == "text"
    assert m.content[0].text == "Mock reply to: What is the weather in Paris today?"
    assert m.stop_reason == "end_turn" and m.usage.output_tokens == 10
    count = await client.post("/v1/messages/count_tokens", headers=ANTHROPIC_AUTH, json=messages())
    assert MessageTokensCount.model_validate(count.json()).input_tokens == m.usage.input_tokens


async def test_max_tokens_stop(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=messages(max_tokens=3))
    m = Message.model_validate(r.json())
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 3


async def test_tool_use_then_tool_result(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=messages(tools=TOOLS))
    m = Message.model_validate(r.json())
    assert m.stop_reason == "tool_use"
    block = m.content[0]
    assert block.type == "tool_use" and block.name == "search"
    assert block.input == {"query": "What is the weather in Paris today?"}

    follow = messages(tools=TOOLS)
    follow["messages"] += [
        {"role": "assistant", "content": [block.model_dump()]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": block.id,
                    "content": [{"type": "text", "text": "sunny"}],
                }
            ],
        },
    ]
    r = await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=follow)
    answer = Message.model_validate(r.json())
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text" and answer.content[0].text == "Tool result: sunny"


async def test_tool_choice(client: httpx.AsyncClient) -> None:
    tools = [*TOOLS, {"name": "lookup", "input_schema": {"type": "object"}}]
    body = messages(tools=tools, tool_choice={"type": "tool", "name": "lookup"})
    m = Message.model_validate(
        (await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=body)).json()
    )
    assert m.content[0].type == "tool_use" and m.content[0].name == "lookup"
    body = messages(tools=tools, tool_choice={"type": "none"})
    m = Message.model_validate(
        (await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=body)).json()
    )
    assert m.content[0].type == "text"


async def test_stream_text(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=messages(stream=True))
    assert r.headers["content-type"] == "text/event-stream"
    raw = sse_events(r.text)
    assert [name for name, _ in raw][:3] == ["message_start", "ping", "content_block_start"]
    # ping is not a RawMessageStreamEvent: the SDK skips it before validation
    raw = [(name, data) for name, data in raw if name != "ping"]
    events = [EVENTS.validate_json(data) for _, data in raw]
    assert [name for name, _ in raw] == [e.type for e in events]
    kinds = [e.type for e in events]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "Mock reply to: What is the weather in Paris today?"
    delta = events[-2]
    assert delta.type == "message_delta" and delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == 10


async def test_stream_tool_use(client: httpx.AsyncClient) -> None:
    body = messages(stream=True, tools=TOOLS)
    r = await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=body)
    events = [EVENTS.validate_json(d) for name, d in sse_events(r.text) if name != "ping"]
    start = events[1]
    assert start.type == "content_block_start" and start.content_block.type == "tool_use"
    assert start.content_block.name == "search" and start.content_block.input == {}
    partial = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert partial == '{"query":"What is the weather in Paris today?"}'
    assert events[-2].type == "message_delta" and events[-2].delta.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "k"}, 400, "invalid_request_error"),
    ],
)
async def test_auth_headers(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, kind: str
) -> None:
    r = await client.post("/v1/messages", headers=headers, json=messages())
    assert r.status_code == status
    assert r.json() == {
        "type": "error",
        "error": {"type": kind, "message": r.json()["error"]["message"]},
    }


async def test_max_tokens_required(client: httpx.AsyncClient) -> None:
    body = messages()
    del body["max_tokens"]
    r = await client.post("/v1/messages", headers=ANTHROPIC_AUTH, json=body)
    assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]
    r = await client.post("/v1/messages/count_tokens", headers=ANTHROPIC_AUTH, json=body)
    assert r.status_code == 200
