"""Translation per (ingress format -> provider format) pair, through the canonical model.

The spec: translation is lossless for text, system prompts, multi-turn, tool definitions, tool
calls and results, stop reasons and usage. Requests go ingress decoder -> provider encoder;
responses go provider decoder -> ingress encoder and are validated with the official SDK types;
streams go upstream SSE bytes -> SSEParser -> provider decoder -> ingress encoder -> SSE again,
with every produced event validated by the SDK types.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as AnthropicMessage
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from lockgate.providers.base import StreamDecoder
from lockgate.wire import anthropic, gemini, openai
from lockgate.wire.formats import StreamEncoder
from lockgate.wire.sse import SSEEvent, SSEParser
from lockgate.wire.types import ChatRequest, ChatResponse, Chunk

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}
SYSTEM = "You are a terse weather assistant."
RESULT = '{"temp_c": 18, "sky": "clear"}'

# --- requests ----------------------------------------------------------------------------------

OPENAI_REQUEST: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": RESULT},
        {"role": "assistant", "content": "It is 18°C and clear."},
        {"role": "user", "content": "And in Lyon?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER_SCHEMA,
            },
        }
    ],
    "stop": ["END"],
    "temperature": 0.3,
    "max_tokens": 256,
}

ANTHROPIC_REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "system": SYSTEM,
    "messages": [
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_01abc",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01abc", "content": RESULT}],
        },
        {"role": "assistant", "content": "It is 18°C and clear."},
        {"role": "user", "content": "And in Lyon?"},
    ],
    "tools": [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER_SCHEMA,
        }
    ],
    "stop_sequences": ["END"],
    "temperature": 0.3,
}

INGRESS_REQUESTS = {
    "openai": (openai.decode_chat_request, OPENAI_REQUEST, "call_abc"),
    "anthropic": (anthropic.decode_chat_request, ANTHROPIC_REQUEST, "toolu_01abc"),
}


def _summary(req: ChatRequest) -> dict[str, Any]:
    """Every lossless item of a canonical request, normalised (arguments parsed as JSON)."""
    return {
        "system": req.system_text(),
        "messages": [
            (
                m.role,
                m.text(),
                [(c.id, c.name, json.loads(c.arguments)) for c in m.tool_calls],
                m.tool_call_id,
                m.is_error,
            )
            for m in req.messages
        ],
        "tools": [(t.name, t.description, t.parameters) for t in req.tools],
        "stop": req.stop,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
    }


def _expected(call_id: str) -> dict[str, Any]:
    return {
        "system": SYSTEM,
        "messages": [
            ("user", "What's the weather in Paris?", [], None, False),
            (
                "assistant",
                "Let me check.",
                [(call_id, "get_weather", {"city": "Paris"})],
                None,
                False,
            ),
            ("tool", RESULT, [], call_id, False),
            ("assistant", "It is 18°C and clear.", [], None, False),
            ("user", "And in Lyon?", [], None, False),
        ],
        "tools": [("get_weather", "Current weather for a city", WEATHER_SCHEMA)],
        "stop": ["END"],
        "max_tokens": 256,
        "temperature": 0.3,
    }


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_ingress_decodes_every_lossless_item(ingress: str) -> None:
    decode, body, call_id = INGRESS_REQUESTS[ingress]
    assert _summary(decode(body)) == _expected(call_id)


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_request_to_anthropic_provider(ingress: str) -> None:
    decode, body, call_id = INGRESS_REQUESTS[ingress]
    out = anthropic.encode_chat_request(decode(body), model="claude-real")
    assert out["model"] == "claude-real"
    assert out["system"] == [{"type": "text", "text": SYSTEM}]
    assert out["max_tokens"] == 256
    assert out["stop_sequences"] == ["END"]
    assert out["temperature"] == 0.3
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER_SCHEMA,
        }
    ]
    msgs = out["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}},
    ]
    [result] = msgs[2]["content"]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == call_id
    assert result["content"] == [{"type": "text", "text": RESULT}]
    assert "is_error" not in result
    # The provider body is itself a valid Anthropic request carrying the same conversation.
    assert _summary(anthropic.decode_chat_request(out)) == _expected(call_id)


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_request_to_openai_provider(ingress: str) -> None:
    decode, body, call_id = INGRESS_REQUESTS[ingress]
    out = openai.encode_chat_request(decode(body), model="gpt-real")
    assert out["model"] == "gpt-real"
    assert out["max_tokens"] == 256
    assert out["stop"] == ["END"]
    assert out["temperature"] == 0.3
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER_SCHEMA,
            },
        }
    ]
    msgs = out["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert msgs[0]["content"] == SYSTEM
    [call] = msgs[2]["tool_calls"]
    assert call["id"] == call_id
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert msgs[2]["content"] == "Let me check."
    assert msgs[3] == {"role": "tool", "tool_call_id": call_id, "content": RESULT}
    assert _summary(openai.decode_chat_request(out)) == _expected(call_id)


@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_request_to_gemini_provider(ingress: str) -> None:
    decode, body, _ = INGRESS_REQUESTS[ingress]
    out = gemini.encode_chat_request(decode(body))
    assert out["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
    assert out["generationConfig"] == {
        "stopSequences": ["END"],
        "maxOutputTokens": 256,
        "temperature": 0.3,
    }
    [tools] = out["tools"]
    assert tools["functionDeclarations"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": WEATHER_SCHEMA,
        }
    ]
    contents = out["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert contents[0]["parts"] == [{"text": "What's the weather in Paris?"}]
    assert contents[1]["parts"] == [
        {"text": "Let me check."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
    ]
    # Gemini pairs results with calls by name: the result is named after the call it answers.
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18, "sky": "clear"}}}
    ]
    assert contents[3]["parts"] == [{"text": "It is 18°C and clear."}]
    assert contents[4]["parts"] == [{"text": "And in Lyon?"}]


# --- responses ---------------------------------------------------------------------------------

ANTHROPIC_RESPONSE: dict[str, Any] = {
    "id": "msg_01XYZ",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": "Checking Lyon."},
        {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Lyon"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 100,
        "output_tokens": 30,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 50,
    },
}

OPENAI_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking Lyon.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_xyz",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 40,
        "total_tokens": 1240,
        "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
    "system_fingerprint": "fp_1",
}

GEMINI_RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "Checking Lyon."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Lyon"}}},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 500,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 5,
        "cachedContentTokenCount": 300,
        "totalTokenCount": 525,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp-1",
}


def _provider_decode(provider: str, body: dict[str, Any]) -> ChatResponse:
    if provider == "openai":
        return openai.decode_chat_response(body)
    if provider == "anthropic":
        return anthropic.decode_chat_response(body)
    return gemini.decode_chat_response(body, model="gemini-2.5-flash")


# provider -> (body, call id, input incl. cache, cached reads, cache writes, output tokens)
RESPONSES: dict[str, tuple[dict[str, Any], str, int, int, int, int]] = {
    "anthropic": (ANTHROPIC_RESPONSE, "toolu_02", 1150, 1000, 50, 30),
    "openai": (OPENAI_RESPONSE, "call_xyz", 1200, 1000, 0, 40),
    "gemini": (GEMINI_RESPONSE, "call_0", 500, 300, 0, 25),
}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_response_to_openai_client(provider: str) -> None:
    body, call_id, total_in, cached, _, output = RESPONSES[provider]
    raw = openai.encode_chat_response(_provider_decode(provider, body), model="alias")
    resp = ChatCompletion.model_validate(orjson.loads(raw))
    assert resp.model == "alias"
    [choice] = resp.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking Lyon."
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.id == call_id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Lyon"}
    assert resp.usage is not None
    # OpenAI's prompt_tokens includes cached tokens.
    assert resp.usage.prompt_tokens == total_in
    assert resp.usage.completion_tokens == output
    assert resp.usage.total_tokens == total_in + output
    assert resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == cached


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_response_to_anthropic_client(provider: str) -> None:
    body, call_id, total_in, cached, written, output = RESPONSES[provider]
    raw = anthropic.encode_chat_response(_provider_decode(provider, body), model="alias")
    msg = AnthropicMessage.model_validate(orjson.loads(raw))
    assert msg.model == "alias"
    assert msg.stop_reason == "tool_use"
    text, tool = msg.content
    assert text.type == "text"
    assert text.text == "Checking Lyon."
    assert tool.type == "tool_use"
    assert tool.id == call_id
    assert tool.name == "get_weather"
    assert tool.input == {"city": "Lyon"}
    # Anthropic's input_tokens excludes cache reads and writes.
    assert msg.usage.input_tokens == total_in - cached - written
    assert msg.usage.cache_read_input_tokens == cached
    assert msg.usage.cache_creation_input_tokens == written
    assert msg.usage.output_tokens == output


def test_anthropic_same_format_keeps_usage_exactly() -> None:
    raw = anthropic.encode_chat_response(
        anthropic.decode_chat_response(ANTHROPIC_RESPONSE), model="claude-sonnet-4-5-20250929"
    )
    assert orjson.loads(raw) == ANTHROPIC_RESPONSE


def _with_stop(provider: str, reason: str) -> dict[str, Any]:
    """A plain text answer ended by ``reason`` in the provider's vocabulary."""
    if provider == "openai":
        body = copy.deepcopy(OPENAI_RESPONSE)
        body["choices"][0]["message"].pop("tool_calls")
        body["choices"][0]["finish_reason"] = reason
        return body
    if provider == "anthropic":
        body = copy.deepcopy(ANTHROPIC_RESPONSE)
        body["content"] = body["content"][:1]
        body["stop_reason"] = reason
        return body
    body = copy.deepcopy(GEMINI_RESPONSE)
    body["candidates"][0]["content"]["parts"] = [{"text": "Checking Lyon."}]
    body["candidates"][0]["finishReason"] = reason
    return body


@pytest.mark.parametrize(
    ("provider", "reason", "openai_reason", "anthropic_reason"),
    [
        ("openai", "length", "length", "max_tokens"),
        ("openai", "stop", "stop", "end_turn"),
        ("openai", "content_filter", "content_filter", "refusal"),
        ("anthropic", "max_tokens", "length", "max_tokens"),
        ("anthropic", "end_turn", "stop", "end_turn"),
        ("anthropic", "refusal", "content_filter", "refusal"),
        ("gemini", "MAX_TOKENS", "length", "max_tokens"),
        ("gemini", "STOP", "stop", "end_turn"),
        ("gemini", "SAFETY", "content_filter", "refusal"),
    ],
)
def test_stop_reason_mapping(
    provider: str, reason: str, openai_reason: str, anthropic_reason: str
) -> None:
    canonical = _provider_decode(provider, _with_stop(provider, reason))
    oa = ChatCompletion.model_validate(
        orjson.loads(openai.encode_chat_response(canonical, model="m"))
    )
    assert oa.choices[0].finish_reason == openai_reason
    an = AnthropicMessage.model_validate(
        orjson.loads(anthropic.encode_chat_response(canonical, model="m"))
    )
    assert an.stop_reason == anthropic_reason


def test_anthropic_stop_sequence_reaches_both_clients() -> None:
    body = _with_stop("anthropic", "stop_sequence")
    body["stop_sequence"] = "END"
    canonical = anthropic.decode_chat_response(body)
    an = AnthropicMessage.model_validate(
        orjson.loads(anthropic.encode_chat_response(canonical, model="m"))
    )
    assert (an.stop_reason, an.stop_sequence) == ("stop_sequence", "END")
    oa = ChatCompletion.model_validate(
        orjson.loads(openai.encode_chat_response(canonical, model="m"))
    )
    assert oa.choices[0].finish_reason == "stop"


# --- streams -----------------------------------------------------------------------------------


def _sse(*events: tuple[str | None, Any]) -> bytes:
    out = b""
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        out += (f"event: {name}\n" if name else "").encode() + f"data: {payload}\n\n".encode()
    return out


def _oa_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }


OPENAI_STREAM = _sse(
    (None, _oa_chunk({"role": "assistant", "content": "", "refusal": None})),
    (None, _oa_chunk({"content": "Checking "})),
    (None, _oa_chunk({"content": "Lyon."})),
    (
        None,
        _oa_chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_s1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
    ),
    (None, _oa_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]})),
    (None, _oa_chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Lyon"}'}}]})),
    (None, _oa_chunk({}, "tool_calls")),
    (
        None,
        {
            "id": "chatcmpl-s1",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06",
            "choices": [],
            "usage": {
                "prompt_tokens": 1200,
                "completion_tokens": 40,
                "total_tokens": 1240,
                "prompt_tokens_details": {"cached_tokens": 1000},
            },
        },
    ),
    (None, "[DONE]"),
)

ANTHROPIC_STREAM = _sse(
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_s1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 150,
                    "output_tokens": 1,
                    "cache_read_input_tokens": 1000,
                    "cache_creation_input_tokens": 50,
                },
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Che"}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "cking Lyon."},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_s1",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"ci'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ty": "Lyon"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 30},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)


def _gemini_event(parts: list[dict[str, Any]], finish: str | None, usage: dict[str, int]) -> Any:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        cand["finishReason"] = finish
    return {
        "candidates": [cand],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-s1",
    }


GEMINI_STREAM = _sse(
    (None, _gemini_event([{"text": "Checking "}], None, {"promptTokenCount": 500})),
    (None, _gemini_event([{"text": "Lyon."}], None, {"promptTokenCount": 500})),
    (
        None,
        _gemini_event(
            [{"functionCall": {"name": "get_weather", "args": {"city": "Lyon"}}}],
            "STOP",
            {
                "promptTokenCount": 500,
                "candidatesTokenCount": 20,
                "thoughtsTokenCount": 5,
                "cachedContentTokenCount": 300,
                "totalTokenCount": 525,
            },
        ),
    ),
)

# provider -> (upstream bytes, call id, input incl. cache, cached reads, cache writes, output)
STREAMS: dict[str, tuple[bytes, str, int, int, int, int]] = {
    "openai": (OPENAI_STREAM, "call_s1", 1200, 1000, 0, 40),
    "anthropic": (ANTHROPIC_STREAM, "toolu_s1", 1200, 1000, 50, 30),
    "gemini": (GEMINI_STREAM, "call_0", 500, 300, 0, 25),
}


def _decoder(provider: str) -> StreamDecoder:
    if provider == "openai":
        return openai.ChatStreamDecoder()
    if provider == "anthropic":
        return anthropic.ChatStreamDecoder()
    return gemini.ChatStreamDecoder(model="gemini-2.5-flash")


def _upstream_chunks(provider: str, raw: bytes, piece: int = 7) -> list[Chunk]:
    """Feed the bytes in small pieces, as a network would, through parser and decoder."""
    parser, decoder = SSEParser(), _decoder(provider)
    chunks: list[Chunk] = []
    for i in range(0, len(raw), piece):
        for event in parser.feed(raw[i : i + piece]):
            chunks += decoder.feed(event)
    for event in parser.close():
        chunks += decoder.feed(event)
    return chunks + decoder.close()


def _client_events(encoder: StreamEncoder, chunks: list[Chunk]) -> list[SSEEvent]:
    raw = b"".join(encoder.encode(c) for c in chunks) + encoder.close()
    parser = SSEParser()
    return parser.feed(raw) + parser.close()


def _openai_client_stream(provider: str, include_usage: bool) -> list[ChatCompletionChunk]:
    raw = STREAMS[provider][0]
    encoder = openai.ChatStreamEncoder(model="alias", include_usage=include_usage)
    events = _client_events(encoder, _upstream_chunks(provider, raw))
    assert events[-1].data == "[DONE]"
    assert all(e.event is None for e in events)
    return [ChatCompletionChunk.model_validate_json(e.data) for e in events[:-1]]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_stream_to_openai_client(provider: str) -> None:
    _, call_id, total_in, cached, _, output = STREAMS[provider]
    chunks = _openai_client_stream(provider, include_usage=True)
    assert {c.model for c in chunks} == {"alias"}
    assert len({c.id for c in chunks}) == 1
    with_choices = [c for c in chunks if c.choices]
    # The usage chunk comes last, after the finish chunk, with no choices.
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert [c for c in chunks if not c.choices] == [usage_chunk]
    assert all(c.usage is None for c in with_choices)
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert text == "Checking Lyon."
    calls = [tc for c in with_choices for tc in c.choices[0].delta.tool_calls or []]
    assert {tc.index for tc in calls} == {0}
    assert [tc.id for tc in calls if tc.id] == [call_id]
    assert [tc.function.name for tc in calls if tc.function and tc.function.name] == ["get_weather"]
    args = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert json.loads(args) == {"city": "Lyon"}
    finishes = [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert with_choices[-1].choices[0].finish_reason == "tool_calls"
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens == total_in
    assert usage_chunk.usage.completion_tokens == output
    assert usage_chunk.usage.total_tokens == total_in + output
    assert usage_chunk.usage.prompt_tokens_details is not None
    assert usage_chunk.usage.prompt_tokens_details.cached_tokens == cached


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_stream_to_openai_client_without_usage(provider: str) -> None:
    chunks = _openai_client_stream(provider, include_usage=False)
    assert chunks
    # OpenAI leaves the usage field out entirely when the client did not ask for it.
    assert all("usage" not in c.model_fields_set for c in chunks)
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Checking Lyon."
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


_EVENT = TypeAdapter[Any](RawMessageStreamEvent)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_stream_to_anthropic_client(provider: str) -> None:
    raw, call_id, total_in, cached, written, output = STREAMS[provider]
    encoder = anthropic.ChatStreamEncoder(model="alias", include_usage=True)
    events = _client_events(encoder, _upstream_chunks(provider, raw))
    snapshot: Any = None
    json_bufs: dict[int, bytes] = {}
    names = []
    for event in events:
        parsed = _EVENT.validate_json(event.data)
        # The SSE event name always matches the payload's type.
        assert event.event == parsed.type
        names.append(parsed.type)
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=json_bufs)
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    msg = AnthropicMessage.model_validate(snapshot.model_dump())
    assert msg.model == "alias"
    assert msg.stop_reason == "tool_use"
    text, tool = msg.content
    assert text.type == "text"
    assert text.text == "Checking Lyon."
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == (call_id, "get_weather", {"city": "Lyon"})
    assert msg.usage.input_tokens == total_in - cached - written
    assert msg.usage.cache_read_input_tokens == cached
    assert msg.usage.cache_creation_input_tokens == written
    assert msg.usage.output_tokens == output


def test_anthropic_stream_same_format_reports_input_usage_at_start() -> None:
    encoder = anthropic.ChatStreamEncoder(model="alias", include_usage=True)
    events = _client_events(encoder, _upstream_chunks("anthropic", ANTHROPIC_STREAM))
    start = _EVENT.validate_json(events[0].data)
    assert start.type == "message_start"
    assert start.message.id == "msg_s1"
    assert start.message.usage.input_tokens == 150
    assert start.message.usage.cache_read_input_tokens == 1000
    assert start.message.usage.cache_creation_input_tokens == 50


@pytest.mark.parametrize(
    ("provider", "upstream_reason", "openai_reason", "anthropic_reason"),
    [
        ("openai", "length", "length", "max_tokens"),
        ("anthropic", "max_tokens", "length", "max_tokens"),
        ("gemini", "MAX_TOKENS", "length", "max_tokens"),
        ("gemini", "STOP", "stop", "end_turn"),
    ],
)
def test_stream_stop_reason_mapping(
    provider: str, upstream_reason: str, openai_reason: str, anthropic_reason: str
) -> None:
    if provider == "openai":
        raw = _sse(
            (None, _oa_chunk({"role": "assistant", "content": "Hi"})),
            (None, _oa_chunk({}, upstream_reason)),
            (None, "[DONE]"),
        )
    elif provider == "anthropic":
        raw = ANTHROPIC_STREAM.replace(
            b'"tool_use", "stop_sequence"', b'"max_tokens", "stop_sequence"'
        )
        assert raw != ANTHROPIC_STREAM
    else:
        raw = _sse(
            (None, _gemini_event([{"text": "Hi"}], upstream_reason, {"promptTokenCount": 3}))
        )
    oa_events = _client_events(
        openai.ChatStreamEncoder(model="m", include_usage=False), _upstream_chunks(provider, raw)
    )
    finishes = [
        c.choices[0].finish_reason
        for c in (ChatCompletionChunk.model_validate_json(e.data) for e in oa_events[:-1])
        if c.choices[0].finish_reason
    ]
    assert finishes == [openai_reason]
    an_events = _client_events(
        anthropic.ChatStreamEncoder(model="m"), _upstream_chunks(provider, raw)
    )
    deltas = [_EVENT.validate_json(e.data) for e in an_events if e.event == "message_delta"]
    assert [d.delta.stop_reason for d in deltas] == [anthropic_reason]
