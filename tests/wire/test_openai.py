"""The OpenAI chat request/response, embeddings, model list and error codecs."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from lockgate.errors import InvalidRequest, UpstreamProtocolError
from lockgate.wire import openai
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)

FULL_REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?", "name": "ann"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "developer", "content": [{"type": "text", "text": "Use Celsius."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this?"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
            ],
        },
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Get the weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            },
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "weather"}},
    "parallel_tool_calls": False,
    "stop": "END",
    "max_completion_tokens": 100,
    "temperature": 0.5,
    "top_p": 0.9,
    "n": 1,
    "seed": 7,
    "presence_penalty": 0.1,
    "frequency_penalty": -0.1,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
    },
    "stream": True,
    "stream_options": {"include_usage": True},
    "user": "u-1",
    "metadata": {"team": "a"},
    "some_new_sdk_field": 1,
}


def test_decode_full_request() -> None:
    req = openai.decode_chat_request(FULL_REQUEST)
    # Mid-conversation developer messages are hoisted into the system prompt, in order.
    assert req.system == [TextPart("Be brief."), TextPart("Use Celsius.")]
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "user"]
    assert req.messages[0] == Message(
        role="user", content=[TextPart("Weather in Paris?")], name="ann"
    )
    assert req.messages[1].content == []
    assert req.messages[1].tool_calls == [ToolCall("call_1", "weather", '{"city":"Paris"}')]
    assert req.messages[2] == Message(role="tool", content=[TextPart("18C")], tool_call_id="call_1")
    assert req.messages[3].content == [
        TextPart("And this?"),
        ImagePart(url="https://x/y.png", detail="low"),
        ImagePart(data="QUJD", media_type="image/jpeg"),
    ]
    assert req.tools == [
        Tool(
            "weather",
            "Get the weather",
            {"type": "object", "properties": {"city": {"type": "string"}}},
            True,
        )
    ]
    assert req.tool_choice == ToolChoice(mode="tool", name="weather", parallel=False)
    assert req.stop == ["END"]
    assert req.max_tokens == 100
    assert (req.temperature, req.top_p, req.n, req.seed) == (0.5, 0.9, 1, 7)
    assert (req.presence_penalty, req.frequency_penalty) == (0.1, -0.1)
    assert req.response_format == ResponseFormat("json_schema", "w", {"type": "object"}, True)
    assert req.stream and req.include_usage
    assert req.user == "u-1"
    assert req.metadata == {"team": "a"}


def test_minimal_request_defaults() -> None:
    req = openai.decode_chat_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert req == ChatRequest(model="m", messages=[Message(role="user", content=[TextPart("hi")])])


def test_max_tokens_and_tool_choice_strings() -> None:
    req = openai.decode_chat_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 5,
            "tool_choice": "required",
            "stop": ["a", "b"],
            "response_format": {"type": "json_object"},
        }
    )
    assert req.max_tokens == 5
    assert req.tool_choice == ToolChoice(mode="required")
    assert req.stop == ["a", "b"]
    assert req.response_format == ResponseFormat("json_object")


def test_request_round_trip_through_provider_encoder() -> None:
    req = openai.decode_chat_request(FULL_REQUEST)
    body = openai.encode_chat_request(
        req, model="gpt-4o-mini-2024", max_tokens_field="max_completion_tokens"
    )
    assert body["model"] == "gpt-4o-mini-2024"
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1] == {"role": "system", "content": "Use Celsius."}
    assert body["messages"][3]["content"] is None
    assert body["messages"][5]["content"][2] == {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64,QUJD"},
    }
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert body["parallel_tool_calls"] is False
    assert "some_new_sdk_field" not in body  # named as dropped (the passthrough carries it)
    assert req.ignored == ["some_new_sdk_field"]
    again = openai.decode_chat_request({**body, "model": "gpt-4o-mini"})
    again.ignored = req.ignored
    assert again == req


def test_provider_encoder_sends_only_set_fields() -> None:
    req = ChatRequest(model="m", messages=[Message(role="user", content=[TextPart("hi")])])
    assert openai.encode_chat_request(req, model="up") == {
        "model": "up",
        "messages": [{"role": "user", "content": "hi"}],
    }
    # Without tools, tool_choice would make OpenAI answer 400.
    req.tool_choice = ToolChoice(mode="none", parallel=True)
    req.response_format = ResponseFormat("json_schema", schema={"type": "object"})
    body = openai.encode_chat_request(req, model="up")
    assert "tool_choice" not in body and "parallel_tool_calls" not in body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}},
    }


def _invalid(body: object) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        openai.decode_chat_request(body)
    assert info.value.status == 400
    return info.value


def _msgs(*messages: object) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages)}


USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [USER]}, "model"),
        ({"model": 3, "messages": [USER]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        (_msgs({"role": "system", "content": "only system"}), "messages"),
        (_msgs(USER, "x"), "messages[1]"),
        (_msgs(USER, {"role": "robot", "content": "x"}), "messages[1].role"),
        (_msgs(USER, {"role": "function", "name": "f", "content": "x"}), "messages[1].role"),
        (_msgs(USER, USER, {"role": "user", "content": 5}), "messages[2].content"),
        (_msgs({"role": "user", "content": [{"type": "text"}]}), "messages[0].content[0].text"),
        (_msgs({"role": "user", "content": [{"type": "video"}]}), "messages[0].content[0].type"),
        (
            _msgs({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}),
            "messages[0].content[0].type",
        ),
        (
            _msgs({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}),
            "messages[0].content[0].image_url.url",
        ),
        (_msgs({"role": "system", "content": [{"type": "image_url"}]}), "messages[0].content[0]"),
        (_msgs(USER, {"role": "tool", "content": "x"}), "messages[1].tool_call_id"),
        (_msgs(USER, {"role": "assistant"}), "messages[1].content"),
        (
            _msgs(USER, {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}),
            "messages[1].tool_calls[0].function",
        ),
        (
            _msgs(
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}],
                },
            ),
            "messages[1].tool_calls[0].function.arguments",
        ),
        (_msgs(USER, {"role": "assistant", "function_call": {}}), "messages[1].function_call"),
        (_msgs(USER, {"role": "user", "content": "x", "name": 1}), "messages[1].name"),
        ({**_msgs(USER), "tools": {}}, "tools"),
        ({**_msgs(USER), "tools": ["f"]}, "tools[0]"),
        ({**_msgs(USER), "tools": [{"type": "custom"}]}, "tools[0].type"),
        (
            {**_msgs(USER), "tools": [{"type": "function", "function": {}}]},
            "tools[0].function.name",
        ),
        (
            {
                **_msgs(USER),
                "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}],
            },
            "tools[0].function.parameters",
        ),
        ({**_msgs(USER), "tool_choice": "sometimes"}, "tool_choice"),
        ({**_msgs(USER), "tool_choice": {"type": "function"}}, "tool_choice.function.name"),
        ({**_msgs(USER), "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
        ({**_msgs(USER), "temperature": 3}, "temperature"),
        ({**_msgs(USER), "temperature": True}, "temperature"),
        ({**_msgs(USER), "top_p": "1"}, "top_p"),
        ({**_msgs(USER), "max_tokens": 0}, "max_tokens"),
        ({**_msgs(USER), "max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({**_msgs(USER), "n": 0}, "n"),
        ({**_msgs(USER), "seed": "1"}, "seed"),
        ({**_msgs(USER), "stop": 1}, "stop"),
        ({**_msgs(USER), "stop": ["a", 1]}, "stop"),
        ({**_msgs(USER), "response_format": {"type": "xml"}}, "response_format.type"),
        (
            {**_msgs(USER), "response_format": {"type": "json_schema", "json_schema": {}}},
            "response_format.json_schema.name",
        ),
        ({**_msgs(USER), "stream": "true"}, "stream"),
        ({**_msgs(USER), "stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
        ({**_msgs(USER), "user": 1}, "user"),
        ({**_msgs(USER), "metadata": []}, "metadata"),
        ({**_msgs(USER), "functions": [{"name": "f"}]}, "functions"),
        ({**_msgs(USER), "logprobs": True}, "logprobs"),
        ({**_msgs(USER), "logit_bias": {"50256": -100}}, "logit_bias"),
        ({**_msgs(USER), "audio": {"voice": "alloy"}}, "audio"),
        ({**_msgs(USER), "modalities": ["text", "audio"]}, "modalities"),
    ],
)
def test_validation_errors_name_the_field(body: dict[str, Any], param: str) -> None:
    err = _invalid(body)
    assert err.param == param
    assert param.split("[")[0].split(".")[0] in err.message


def test_validation_message_wording() -> None:
    err = _invalid(_msgs(USER, USER, {"role": "user", "content": 5}))
    assert err.message == "messages[2].content must be a string or an array of content parts"


def test_body_not_an_object() -> None:
    bodies: list[object] = [[], "x", None, 3]
    for body in bodies:
        assert _invalid(body).param is None


def test_neutral_values_of_unsupported_fields_are_accepted() -> None:
    req = openai.decode_chat_request(
        {**_msgs(USER), "logprobs": False, "logit_bias": {}, "modalities": ["text"], "audio": None}
    )
    assert req.messages[0].text() == "hi"


# --- responses -------------------------------------------------------------------------------


def test_encode_chat_response_parses_with_sdk() -> None:
    resp = ChatResponse(
        id="chatcmpl-1",
        model="upstream-model",
        content=[TextPart("Hello")],
        usage=Usage(input_tokens=10, output_tokens=2, cached_input_tokens=4),
        created=1700000000,
    )
    raw = orjson.loads(openai.encode_chat_response(resp, model="my-alias"))
    sdk = ChatCompletion.model_validate(raw)
    assert sdk.model == "my-alias"
    assert sdk.choices[0].message.content == "Hello"
    assert sdk.choices[0].finish_reason == "stop"
    assert sdk.usage is not None and sdk.usage.total_tokens == 12
    assert sdk.usage.prompt_tokens_details is not None
    assert sdk.usage.prompt_tokens_details.cached_tokens == 4


def test_encode_chat_response_tool_calls_null_content_no_usage() -> None:
    resp = ChatResponse(
        id="x",
        model="m",
        tool_calls=[ToolCall("call_1", "f", "{}")],
        stop_reason="tool_calls",
        created=1,
    )
    raw = orjson.loads(openai.encode_chat_response(resp, model="m"))
    assert "usage" not in raw
    choice = raw["choices"][0]
    assert choice["message"]["content"] is None
    assert choice["finish_reason"] == "tool_calls"
    sdk = ChatCompletion.model_validate(raw)
    calls = sdk.choices[0].message.tool_calls
    assert calls is not None and calls[0].id == "call_1"


def test_chat_response_round_trip() -> None:
    resp = ChatResponse(
        id="chatcmpl-2",
        model="m",
        content=[TextPart("Let me check.")],
        tool_calls=[ToolCall("call_1", "f", '{"a":1}'), ToolCall("call_2", "g", "{}")],
        stop_reason="tool_calls",
        usage=Usage(input_tokens=3, output_tokens=4, cached_input_tokens=1),
        created=5,
    )
    back = openai.decode_chat_response(orjson.loads(openai.encode_chat_response(resp, model="m")))
    assert back == resp


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        (None, "stop"),
        ("eos", "stop"),
    ],
)
def test_decode_stop_reasons(reason: str | None, expected: str) -> None:
    body = {"choices": [{"message": {"content": "x"}, "finish_reason": reason}]}
    assert openai.decode_chat_response(body).stop_reason == expected


def test_decode_chat_response_lenient_shapes() -> None:
    body = {
        "id": "r",
        "model": "m",
        "choices": [
            {
                "message": {
                    "content": None,
                    "refusal": "I can't help with that.",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}],
                }
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": None},
    }
    resp = openai.decode_chat_response(body)
    assert resp.text() == "I can't help with that."
    assert resp.tool_calls == [ToolCall("c", "f", '{"a":1}')]
    assert resp.usage == Usage(input_tokens=5, output_tokens=1)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"choices": []},
        {"choices": ["x"]},
        {"choices": [{"message": None}]},
        {"choices": [{"message": {"content": 5}}]},
        {"choices": [{"message": {"tool_calls": "f"}}]},
        {"choices": [{"message": {"tool_calls": [{"function": {}}]}}]},
    ],
)
def test_decode_chat_response_malformed(body: object) -> None:
    with pytest.raises(UpstreamProtocolError, match="malformed"):
        openai.decode_chat_response(body)


# --- embeddings ------------------------------------------------------------------------------


def test_decode_embedding_request() -> None:
    req = openai.decode_embedding_request(
        {"model": "e", "input": "hi", "dimensions": 8, "encoding_format": "base64", "user": "u"}
    )
    assert req == EmbeddingRequest("e", ["hi"], 8, "base64", "u")
    req = openai.decode_embedding_request({"model": "e", "input": ["a", "b"]})
    assert req == EmbeddingRequest("e", ["a", "b"])
    assert openai.encode_embedding_request(req, model="up") == {"model": "up", "input": ["a", "b"]}


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ("x", None, "JSON object"),
        ({"input": "x"}, "model", "model"),
        ({"model": "e"}, "input", "input"),
        ({"model": "e", "input": []}, "input", "empty"),
        ({"model": "e", "input": [1, 2, 3]}, "input", "token arrays are not supported"),
        ({"model": "e", "input": [[1, 2]]}, "input", "token arrays are not supported"),
        ({"model": "e", "input": ["a", ""]}, "input[1]", "input[1]"),
        ({"model": "e", "input": "x", "dimensions": 0}, "dimensions", "dimensions"),
        ({"model": "e", "input": "x", "encoding_format": "int8"}, "encoding_format", "base64"),
        ({"model": "e", "input": "x", "user": 5}, "user", "user"),
    ],
)
def test_embedding_validation(body: object, param: str | None, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        openai.decode_embedding_request(body)
    assert info.value.param == param
    assert fragment in info.value.message


def test_embedding_response_float_and_base64() -> None:
    resp = EmbeddingResponse("up", [[0.5, -1.25], [2.0, 0.0]], Usage(input_tokens=6))
    raw = orjson.loads(openai.encode_embedding_response(resp, model="e"))
    sdk = CreateEmbeddingResponse.model_validate(raw)
    assert sdk.model == "e" and sdk.usage.prompt_tokens == 6 and sdk.usage.total_tokens == 6
    assert [d.embedding for d in sdk.data] == [[0.5, -1.25], [2.0, 0.0]]
    b64 = orjson.loads(openai.encode_embedding_response(resp, model="e", encoding_format="base64"))
    packed = base64.b64decode(b64["data"][1]["embedding"])
    assert struct.unpack("<2f", packed) == (2.0, 0.0)
    # The provider side reads either encoding back, in index order.
    b64["data"].reverse()
    assert openai.decode_embedding_response(b64) == EmbeddingResponse(
        "e", [[0.5, -1.25], [2.0, 0.0]], Usage(input_tokens=6)
    )
    assert openai.decode_embedding_response(raw).vectors == resp.vectors


@pytest.mark.parametrize("body", [None, {}, {"data": [{"embedding": None}]}])
def test_embedding_response_malformed(body: object) -> None:
    with pytest.raises(UpstreamProtocolError):
        openai.decode_embedding_response(body)


# --- model list and errors -------------------------------------------------------------------


def test_model_list() -> None:
    raw = orjson.loads(openai.encode_model_list([("a", "lockgate"), ("b", "acme")], created=9))
    assert raw == {
        "object": "list",
        "data": [
            {"id": "a", "object": "model", "created": 9, "owned_by": "lockgate"},
            {"id": "b", "object": "model", "created": 9, "owned_by": "acme"},
        ],
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error":{"message":"too long","type":"invalid_request_error",'
            b'"code":"context_length_exceeded","param":"messages"}}',
            ("too long", "context_length_exceeded", "messages"),
        ),
        (
            b'{"error":{"message":"slow down","type":"requests","code":null,"param":null}}',
            ("slow down", "requests", None),
        ),
        (b'{"error":"plain"}', ("plain", None, None)),
        (b'{"detail":"Not Found"}', ("Not Found", None, None)),
        (b"<html>Bad Gateway</html>", ("<html>Bad Gateway</html>", None, None)),
        (b"", ("upstream returned HTTP 503", None, None)),
        (b"\xff\xfe", ("\ufffd\ufffd", None, None)),
    ],
)
def test_decode_error(body: bytes, expected: tuple[str, str | None, str | None]) -> None:
    assert openai.decode_error(503, body) == expected


def test_decode_error_truncates_long_bodies() -> None:
    message, _, _ = openai.decode_error(500, b"x" * 10_000)
    assert len(message) == 500


def test_public_api() -> None:
    assert sorted(openai.__all__) == sorted(
        [
            "ChatStreamDecoder",
            "ChatStreamEncoder",
            "decode_chat_request",
            "decode_chat_response",
            "decode_embedding_request",
            "decode_embedding_response",
            "decode_error",
            "dropped_params",
            "encode_chat_request",
            "encode_chat_response",
            "encode_embedding_request",
            "encode_embedding_response",
            "encode_model_list",
            "iter_embedding_response",
        ]
    )
    for name in openai.__all__:
        assert hasattr(openai, name)
