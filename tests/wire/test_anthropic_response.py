"""The Anthropic response codec: usage, stop reasons, count tokens, errors, the real SDK."""

from __future__ import annotations

from typing import Any

import anthropic as sdk
import httpx2 as httpx  # the anthropic SDK runs on httpx2
import orjson
import pytest

from lockgate.errors import UpstreamProtocolError
from lockgate.wire import anthropic
from lockgate.wire.types import ChatResponse, StopReason, TextPart, ThinkingPart, ToolCall, Usage

UPSTREAM: dict[str, Any] = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-real",
    "content": [
        {"type": "thinking", "thinking": "...", "signature": "s"},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 1000,
    },
}


def test_decode_response_and_cache_arithmetic() -> None:
    resp = anthropic.decode_chat_response(UPSTREAM)
    assert resp == ChatResponse(
        id="msg_01",
        model="claude-real",
        content=[TextPart("Let me check.")],
        tool_calls=[ToolCall("tu_1", "get_weather", '{"city":"Paris"}')],
        stop_reason="tool_calls",
        usage=Usage(
            input_tokens=1110,
            output_tokens=20,
            cached_input_tokens=100,
            cache_creation_input_tokens=1000,
        ),
        thinking=[ThinkingPart("...", "s")],
    )


def test_encode_response_round_trip() -> None:
    resp = anthropic.decode_chat_response(UPSTREAM)
    out = orjson.loads(anthropic.encode_chat_response(resp, model="alias"))
    expected = dict(UPSTREAM, model="alias")  # thinking with its signature included
    assert out == expected
    assert anthropic.decode_chat_response(out).usage == resp.usage


def test_encode_response_without_usage_and_foreign_id() -> None:
    resp = ChatResponse(id="chatcmpl-1", model="gpt", content=[TextPart("hi")])
    out = orjson.loads(anthropic.encode_chat_response(resp, model="m"))
    assert out["id"] == "chatcmpl-1"
    assert out["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    bad = ChatResponse(id="x", model="m", tool_calls=[ToolCall("c", "f", "[1]")])
    with pytest.raises(UpstreamProtocolError, match="not a JSON object"):
        anthropic.encode_chat_response(bad, model="m")


@pytest.mark.parametrize(
    ("upstream", "canonical", "back"),
    [
        ("end_turn", "stop", "end_turn"),
        ("stop_sequence", "stop", "stop_sequence"),
        ("pause_turn", "stop", "end_turn"),
        ("max_tokens", "length", "max_tokens"),
        ("model_context_window_exceeded", "length", "max_tokens"),
        ("tool_use", "tool_calls", "tool_use"),
        ("refusal", "content_filter", "refusal"),
        (None, "stop", "end_turn"),
    ],
)
def test_stop_reasons(upstream: str | None, canonical: StopReason, back: str) -> None:
    seq = "END" if upstream == "stop_sequence" else None
    body = dict(UPSTREAM, stop_reason=upstream, stop_sequence=seq)
    resp = anthropic.decode_chat_response(body)
    assert (resp.stop_reason, resp.stop_sequence) == (canonical, seq)
    out = orjson.loads(anthropic.encode_chat_response(resp, model="m"))
    assert (out["stop_reason"], out["stop_sequence"]) == (back, seq)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "not a JSON object"),
        ({"content": "x"}, "'content' is not a list"),
        ({"content": [1]}, "content.0 is not an object"),
        ({"content": [{"type": "text"}]}, "content.0.text"),
        ({"content": [{"type": "tool_use", "id": "a"}]}, "id or name"),
        ({"content": [{"type": "tool_use", "id": "a", "name": "f", "input": 3}]}, "input"),
    ],
)
def test_malformed_response(body: object, words: str) -> None:
    with pytest.raises(UpstreamProtocolError, match="malformed Anthropic response") as info:
        anthropic.decode_chat_response(body)
    assert words in info.value.message


def test_count_tokens() -> None:
    assert orjson.loads(anthropic.encode_count_tokens_response(42)) == {"input_tokens": 42}
    assert anthropic.decode_count_tokens_response({"input_tokens": 42}) == 42
    for bad in ({}, {"input_tokens": "1"}, None, {"input_tokens": True}):
        with pytest.raises(UpstreamProtocolError):
            anthropic.decode_count_tokens_response(bad)


def test_decode_error() -> None:
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    assert anthropic.decode_error(529, body) == ("Overloaded", "overloaded_error", None)
    assert anthropic.decode_error(502, b"<html>Bad gateway</html>") == (
        "<html>Bad gateway</html>",
        None,
        None,
    )
    assert anthropic.decode_error(500, b"") == ("Anthropic returned HTTP 500", None, None)
    assert anthropic.decode_error(400, b'{"error":{"type":"x"}}')[1] == "x"
    assert len(anthropic.decode_error(500, b"x" * 10_000)[0]) == 500


def _client(handler: Any) -> sdk.Anthropic:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return sdk.Anthropic(api_key="k", base_url="http://gw", http_client=http, max_retries=0)


def test_real_sdk_request_and_response() -> None:
    """What the official SDK sends decodes; what we answer parses into its Message."""
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        req = anthropic.decode_chat_request(orjson.loads(request.content))
        seen.append(req)
        resp = anthropic.decode_chat_response(UPSTREAM)
        return httpx.Response(200, content=anthropic.encode_chat_response(resp, model=req.model))

    with _client(handler) as client:
        msg = client.messages.create(
            model="alias",
            max_tokens=10,
            system="sys",
            tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
            messages=[{"role": "user", "content": "weather?"}],
        )
    assert seen[0].system == [TextPart("sys")] and seen[0].max_tokens == 10
    assert msg.model == "alias" and msg.stop_reason == "tool_use"
    assert msg.content[0].type == "thinking" and msg.content[0].signature == "s"
    assert msg.content[2].type == "tool_use" and msg.content[2].input == {"city": "Paris"}
    assert msg.usage.input_tokens == 10 and msg.usage.cache_read_input_tokens == 100
