from __future__ import annotations

from typing import Any

import orjson
import pytest

from lockgate.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from lockgate.wire import gemini
from lockgate.wire.gemini import (
    ChatStreamDecoder,
    decode_chat_response,
    decode_count_tokens_response,
    decode_embedding_response,
    decode_error,
    encode_chat_request,
    encode_count_tokens_request,
    encode_embedding_request,
)
from lockgate.wire.sse import SSEEvent
from lockgate.wire.types import (
    ChatRequest,
    Chunk,
    EmbeddingRequest,
    ImagePart,
    Message,
    ResponseFormat,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    Usage,
)


def _req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", "gemini-2.5-flash"), messages=list(messages), **kw)


def _user(text: str) -> Message:
    return Message(role="user", content=[TextPart(text)])


# --- encode ----------------------------------------------------------------------------------


def test_public_api() -> None:
    assert set(gemini.__all__) == {
        "ChatStreamDecoder",
        "decode_chat_response",
        "decode_count_tokens_response",
        "decode_embedding_response",
        "decode_error",
        "encode_chat_request",
        "encode_count_tokens_request",
        "encode_embedding_request",
    }


def test_multi_turn_tool_conversation() -> None:
    req = _req(
        _user("Weather in Paris and Rome?"),
        Message(
            role="assistant",
            content=[TextPart("Checking.")],
            tool_calls=[
                ToolCall("call_a", "get_weather", '{"city":"Paris"}'),
                ToolCall("call_b", "get_time", '{"city":"Rome"}'),
            ],
        ),
        Message(role="tool", tool_call_id="call_a", content=[TextPart('{"temp": 21}')]),
        Message(role="tool", tool_call_id="call_b", content=[TextPart("12:00")]),
        Message(role="tool", tool_call_id="call_b", content=[TextPart("boom")], is_error=True),
        _user("Thanks"),
        Message(role="assistant", content=[TextPart("You're welcome.")]),
        Message(role="assistant", content=[TextPart(" Anything else?")]),
    )
    body = encode_chat_request(req)
    assert "model" not in body
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "get_time", "response": {"content": "12:00"}}},
                {"functionResponse": {"name": "get_time", "response": {"error": "boom"}}},
                {"text": "Thanks"},
            ],
        },
        {"role": "model", "parts": [{"text": "You're welcome."}, {"text": " Anything else?"}]},
    ]


def test_tool_result_json_that_is_not_an_object_is_wrapped() -> None:
    req = _req(
        _user("x"),
        Message(role="assistant", tool_calls=[ToolCall("c1", "f", "")]),
        Message(role="tool", tool_call_id="c1", content=[TextPart("[1, 2]")]),
        Message(role="tool", tool_call_id="c1", content=[TextPart("{not json")]),
    )
    contents = encode_chat_request(req)["contents"]
    assert contents[1]["parts"] == [{"functionCall": {"name": "f", "args": {}}}]
    assert [p["functionResponse"]["response"] for p in contents[2]["parts"]] == [
        {"content": "[1, 2]"},
        {"content": "{not json"},
    ]


def test_reused_call_ids_resolve_to_the_latest_earlier_call() -> None:
    # Gemini-issued ids are call_<index> per response, so ids repeat across turns.
    req = _req(
        _user("a"),
        Message(role="assistant", tool_calls=[ToolCall("call_0", "first", "{}")]),
        Message(role="tool", tool_call_id="call_0", content=[TextPart("1")]),
        Message(role="assistant", tool_calls=[ToolCall("call_0", "second", "{}")]),
        Message(role="tool", tool_call_id="call_0", content=[TextPart("2")]),
    )
    contents = encode_chat_request(req)["contents"]
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "first"
    assert contents[4]["parts"][0]["functionResponse"]["name"] == "second"


def test_unknown_tool_call_id_is_rejected() -> None:
    req = _req(_user("a"), Message(role="tool", tool_call_id="nope", content=[TextPart("x")]))
    with pytest.raises(InvalidRequest, match=r"messages\[1\].*'nope'"):
        encode_chat_request(req)


@pytest.mark.parametrize("args", ["{bad", "[1]"])
def test_invalid_tool_arguments_name_the_message(args: str) -> None:
    req = _req(_user("a"), Message(role="assistant", tool_calls=[ToolCall("c", "f", args)]))
    with pytest.raises(InvalidRequest, match=r"messages\[1\]"):
        encode_chat_request(req)


def test_gemini_3_calls_carry_the_signature_sentinel() -> None:
    calls = [ToolCall("a", "f", "{}"), ToolCall("b", "g", "{}")]
    msgs = (_user("x"), Message(role="assistant", tool_calls=calls))
    parts = encode_chat_request(_req(*msgs, model="gemini-3-pro-preview"))["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]
    parts = encode_chat_request(_req(*msgs, model="gemini-2.5-pro"))["contents"][1]["parts"]
    assert all("thoughtSignature" not in p for p in parts)


def test_images_and_system() -> None:
    req = _req(
        Message(
            role="user",
            content=[
                TextPart("Describe"),
                ImagePart(data="QUJD", media_type="image/png"),
                ImagePart(url="https://x.test/cat.WEBP?size=2", detail="high"),
                ImagePart(url="gs://bucket/doc", media_type="application/pdf"),
                ImagePart(url="https://x.test/noext"),
                ImagePart(url="data:image/gif;base64,R0lG"),
            ],
        ),
        system=[TextPart("Be brief."), TextPart("Be kind.")],
    )
    body = encode_chat_request(req)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]}
    assert body["contents"][0]["parts"] == [
        {"text": "Describe"},
        {"inlineData": {"mimeType": "image/png", "data": "QUJD"}},
        {"fileData": {"fileUri": "https://x.test/cat.WEBP?size=2", "mimeType": "image/webp"}},
        {"fileData": {"fileUri": "gs://bucket/doc", "mimeType": "application/pdf"}},
        {"fileData": {"fileUri": "https://x.test/noext", "mimeType": "image/jpeg"}},
        {"inlineData": {"mimeType": "image/gif", "data": "R0lG"}},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("required", parallel=False), {"mode": "ANY"}),
        (ToolChoice("tool", name="f"), {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ],
)
def test_tool_choice(choice: ToolChoice, expected: dict[str, Any]) -> None:
    body = encode_chat_request(_req(_user("x"), tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_tools_and_schema_stripping() -> None:
    params = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "strict": True,
        "properties": {
            "strict": {"type": "boolean"},  # a property *named* strict survives
            "items": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": False, "properties": {}},
            },
            "mode": {"enum": [{"additionalProperties": 1}], "default": {"strict": 1}},
        },
        "anyOf": [{"additionalProperties": True}],
    }
    tools = [
        Tool("lookup", "Look up", params, strict=True),
        Tool("ping"),
        Tool("noargs", parameters={"type": "object", "properties": {}}),
    ]
    body = encode_chat_request(_req(_user("x"), tools=tools))
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "lookup",
                    "description": "Look up",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "strict": {"type": "boolean"},
                            "items": {
                                "type": "array",
                                "items": {"type": "object", "properties": {}},
                            },
                            "mode": {
                                "enum": [{"additionalProperties": 1}],
                                "default": {"strict": 1},
                            },
                        },
                        "anyOf": [{}],
                    },
                },
                {"name": "ping"},
                {"name": "noargs"},
            ]
        }
    ]
    assert params["additionalProperties"] is False  # the input is not mutated


def test_generation_config_only_what_is_set() -> None:
    assert "generationConfig" not in encode_chat_request(_req(_user("x")))
    body = encode_chat_request(
        _req(
            _user("x"),
            stop=["END"],
            max_tokens=100,
            temperature=0.0,
            top_p=0.9,
            top_k=40,
            n=2,
            presence_penalty=0.1,
            frequency_penalty=0.2,
            seed=7,
            response_format=ResponseFormat("json_object"),
        )
    )
    assert body["generationConfig"] == {
        "stopSequences": ["END"],
        "maxOutputTokens": 100,
        "temperature": 0.0,
        "topP": 0.9,
        "topK": 40,
        "candidateCount": 2,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "seed": 7,
        "responseMimeType": "application/json",
    }


def test_json_schema_response_format() -> None:
    fmt = ResponseFormat(
        "json_schema",
        name="out",
        strict=True,
        schema={"type": "object", "additionalProperties": False, "properties": {"a": {}}},
    )
    config = encode_chat_request(_req(_user("x"), response_format=fmt))["generationConfig"]
    assert config == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"a": {}}},
    }
    text = encode_chat_request(_req(_user("x"), response_format=ResponseFormat("text")))
    assert "generationConfig" not in text


def test_dropped_fields_are_not_sent() -> None:
    req = _req(
        Message(role="user", content=[TextPart("x")], name="bob"),
        Message(role="assistant", content=[TextPart("")]),  # empty turn: skipped
        user="u-1",
        metadata={"k": "v"},
        stream=True,
        include_usage=True,
        tool_choice=ToolChoice("auto", parallel=False),
    )
    body = encode_chat_request(req)
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    }


# --- decode ----------------------------------------------------------------------------------


def _candidate(parts: list[dict[str, Any]], finish: str | None = "STOP") -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        cand["finishReason"] = finish
    return cand


def test_decode_text_with_thoughts_and_usage() -> None:
    body = {
        "candidates": [
            _candidate(
                [
                    {"text": "planning...", "thought": True},
                    {"text": "Hello", "thoughtSignature": "c2ln"},
                    {"text": ", world"},
                ]
            )
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 7,
            "cachedContentTokenCount": 4,
            "totalTokenCount": 22,
        },
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "resp-1",
    }
    resp = decode_chat_response(body, model="gemini-2.5-flash")
    assert resp.id == "resp-1"
    assert resp.model == "gemini-2.5-flash-001"
    assert resp.text() == "Hello, world"
    assert resp.stop_reason == "stop"
    assert resp.tool_calls == []
    assert resp.usage == Usage(
        input_tokens=10, output_tokens=12, cached_input_tokens=4, reasoning_tokens=7
    )


def test_decode_function_calls() -> None:
    body = {
        "candidates": [
            _candidate(
                [
                    {"text": "Let me check."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"id": "fc-9", "name": "noop"}},
                ]
            )
        ]
    }
    resp = decode_chat_response(body, model="m")
    assert resp.model == "m"
    assert resp.id.startswith("gemini-")
    assert resp.usage is None
    assert resp.stop_reason == "tool_calls"
    assert resp.tool_calls == [
        ToolCall("call_0", "get_weather", '{"city":"Paris"}'),
        ToolCall("fc-9", "noop", "{}"),
    ]


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("OTHER", "error"),
        ("FINISH_REASON_UNSPECIFIED", "error"),
        ("SOMETHING_NEW", "error"),
    ],
)
def test_finish_reasons(finish: str, expected: str) -> None:
    resp = decode_chat_response({"candidates": [_candidate([{"text": "x"}], finish)]}, model="m")
    assert resp.stop_reason == expected


def test_candidate_without_content() -> None:
    resp = decode_chat_response({"candidates": [{"finishReason": "SAFETY"}]}, model="m")
    assert resp.content == [] and resp.stop_reason == "content_filter"


def test_blocked_prompt() -> None:
    body = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    }
    resp = decode_chat_response(body, model="m")
    assert resp.stop_reason == "content_filter"
    assert resp.content == [] and resp.tool_calls == []
    assert resp.usage == Usage(input_tokens=8)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "x",
        {},
        {"candidates": "no"},
        {"candidates": [1]},
        {"candidates": [{"content": {"parts": "x"}}]},
        {"candidates": [_candidate([{"functionCall": {"args": {}}}])]},
        {"candidates": [_candidate([{"functionCall": {"name": "f", "args": [1]}}])]},
    ],
)
def test_malformed_responses(body: object) -> None:
    with pytest.raises(UpstreamProtocolError):
        decode_chat_response(body, model="m")


# --- stream ----------------------------------------------------------------------------------


def _events(*objs: object) -> list[SSEEvent]:
    return [SSEEvent(orjson.dumps(o).decode()) for o in objs]


def _run(dec: ChatStreamDecoder, events: list[SSEEvent]) -> list[Chunk]:
    out: list[Chunk] = []
    for e in events:
        out += dec.feed(e)
    return out + dec.close()


def test_stream_text_with_usage_on_last_chunk() -> None:
    meta = {"modelVersion": "gemini-2.5-flash", "responseId": "r1"}
    events = _events(
        {"candidates": [_candidate([{"text": "thinking", "thought": True}], None)], **meta},
        {"candidates": [_candidate([{"text": "Hel"}], None)], **meta},
        {
            "candidates": [_candidate([{"text": "lo"}], "STOP")],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
            **meta,
        },
        {
            "candidates": [_candidate([{"text": ""}], None)],
            "usageMetadata": {
                "promptTokenCount": 3,
                "candidatesTokenCount": 2,
                "thoughtsTokenCount": 4,
            },
            **meta,
        },
    )
    chunks = _run(ChatStreamDecoder(model="alias"), events)
    assert chunks == [
        StreamStart(id="r1", model="gemini-2.5-flash"),
        TextDelta("Hel"),
        TextDelta("lo"),
        StreamEnd(
            stop_reason="stop", usage=Usage(input_tokens=3, output_tokens=6, reasoning_tokens=4)
        ),
    ]


def test_stream_function_calls() -> None:
    events = _events(
        {"candidates": [_candidate([{"text": "One moment."}], None)]},
        {
            "candidates": [
                _candidate(
                    [
                        {"functionCall": {"name": "a", "args": {"x": 1}}},
                        {"functionCall": {"id": "g-1", "name": "b", "args": {}}},
                    ],
                    None,
                )
            ]
        },
        {"candidates": [_candidate([{"functionCall": {"name": "c"}}], "STOP")]},
        {"usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 6}},
    )
    dec = ChatStreamDecoder(model="gemini-2.0-flash")
    chunks = _run(dec, events)
    start = chunks[0]
    assert isinstance(start, StreamStart)
    assert start.model == "gemini-2.0-flash" and start.id.startswith("gemini-")
    assert chunks[1:] == [
        TextDelta("One moment."),
        ToolCallStart(index=0, id="call_0", name="a"),
        ToolCallDelta(index=0, arguments='{"x":1}'),
        ToolCallStart(index=1, id="g-1", name="b"),
        ToolCallDelta(index=1, arguments="{}"),
        ToolCallStart(index=2, id="call_2", name="c"),
        ToolCallDelta(index=2, arguments="{}"),
        StreamEnd(stop_reason="tool_calls", usage=Usage(input_tokens=9, output_tokens=6)),
    ]
    assert dec.close() == []  # StreamEnd is emitted exactly once


def test_stream_ignores_other_candidates_and_blank_events() -> None:
    events = [
        SSEEvent(""),
        *_events(
            {"candidates": [{"index": 1, "content": {"parts": [{"text": "B"}]}}]},
            {"candidates": [_candidate([{"text": "A"}], "MAX_TOKENS")]},
        ),
    ]
    chunks = _run(ChatStreamDecoder(model="m"), events)
    assert chunks[1:] == [TextDelta("A"), StreamEnd(stop_reason="length")]


def test_stream_blocked_prompt() -> None:
    events = _events(
        {"promptFeedback": {"blockReason": "OTHER"}, "usageMetadata": {"promptTokenCount": 5}}
    )
    chunks = _run(ChatStreamDecoder(model="m"), events)
    assert chunks[1:] == [
        StreamEnd(stop_reason="content_filter", usage=Usage(input_tokens=5)),
    ]


def test_stream_truncated() -> None:
    dec = ChatStreamDecoder(model="m")
    assert len(dec.feed(_events({"candidates": [_candidate([{"text": "Hi"}], None)]})[0])) == 2
    with pytest.raises(UpstreamProtocolError, match="ended before the response finished"):
        dec.close()
    with pytest.raises(UpstreamProtocolError):
        ChatStreamDecoder(model="m").close()


def test_stream_error_event() -> None:
    dec = ChatStreamDecoder(model="m")
    dec.feed(_events({"candidates": [_candidate([{"text": "Hi"}], None)]})[0])
    err = {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(UpstreamStatusError) as info:
        dec.feed(_events(err)[0])
    assert info.value.upstream_status == 429
    assert info.value.upstream_type == "RESOURCE_EXHAUSTED"
    assert info.value.provider == "gemini"
    assert info.value.message == "Resource exhausted"
    with pytest.raises(UpstreamStatusError) as info:
        ChatStreamDecoder(model="m").feed(_events({"error": {"message": "x"}})[0])
    assert info.value.upstream_status == 502


@pytest.mark.parametrize("data", ["{not json", "[1,2]", '{"candidates": 3}'])
def test_stream_malformed(data: str) -> None:
    with pytest.raises(UpstreamProtocolError):
        ChatStreamDecoder(model="m").feed(SSEEvent(data))


# --- embeddings, count tokens, errors --------------------------------------------------------


def test_embeddings() -> None:
    req = EmbeddingRequest(model="alias", inputs=["a", "b"], dimensions=8, user="u")
    assert encode_embedding_request(req, model="gemini-embedding-001") == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "a"}]},
                "outputDimensionality": 8,
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "b"}]},
                "outputDimensionality": 8,
            },
        ]
    }
    plain = encode_embedding_request(
        EmbeddingRequest("x", ["a"]), model="models/text-embedding-004"
    )
    assert plain == {
        "requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}}]
    }
    resp = decode_embedding_response(
        {"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0]}]}, model="e"
    )
    assert resp.model == "e"
    assert resp.vectors == [[0.1, 0.2], [0.3, 0]]
    assert resp.usage == Usage()


@pytest.mark.parametrize("body", [None, {}, {"embeddings": [{"x": 1}]}, {"embeddings": [1]}])
def test_malformed_embeddings(body: object) -> None:
    with pytest.raises(UpstreamProtocolError):
        decode_embedding_response(body, model="e")


def test_count_tokens() -> None:
    req = _req(
        _user("hi"),
        system=[TextPart("sys")],
        tools=[Tool("f", parameters={"type": "object", "properties": {"a": {"type": "string"}}})],
        max_tokens=5,
    )
    body = encode_count_tokens_request(req)
    assert body == {
        "generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"a": {"type": "string"}},
                            },
                        }
                    ]
                }
            ],
        }
    }
    other = encode_count_tokens_request(req, model="gemini-2.0-flash")
    assert other["generateContentRequest"]["model"] == "models/gemini-2.0-flash"
    assert decode_count_tokens_response({"totalTokens": 31}) == 31
    assert decode_count_tokens_response({}) == 0
    for bad in (None, {"totalTokens": "3"}):
        with pytest.raises(UpstreamProtocolError):
            decode_count_tokens_response(bad)


def test_decode_error() -> None:
    body = orjson.dumps(
        {"error": {"code": 400, "message": "Bad schema", "status": "INVALID_ARGUMENT"}}
    )
    assert decode_error(400, body) == ("Bad schema", "INVALID_ARGUMENT", None)
    listed = orjson.dumps([{"error": {"code": 503, "message": "Overloaded"}}])
    assert decode_error(503, listed) == ("Overloaded", None, None)
    assert decode_error(502, b"<html>Bad Gateway</html>") == (
        "<html>Bad Gateway</html>",
        None,
        None,
    )
    assert decode_error(500, b"") == ("Gemini returned HTTP 500", None, None)
    assert decode_error(500, b'{"error": {}}') == ("Gemini returned HTTP 500", None, None)
    assert decode_error(500, b"\xff\xfe")[0]  # undecodable bytes do not raise
    assert len(decode_error(500, b"x" * 5000)[0]) == 1000
