"""The Anthropic request codec: client requests in, provider requests out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lockgate.errors import InvalidRequest
from lockgate.wire import anthropic, openai
from lockgate.wire.types import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
    ToolChoice,
)

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(extra)
    return body


def _multi_turn() -> dict[str, Any]:
    return _body(
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[
            {"role": "user", "content": "weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "tu_1", "name": "get_weather",
                     "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "tu_2", "name": "get_weather",
                     "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": "sunny"},
                    {"type": "tool_result", "tool_use_id": "tu_2", "is_error": True,
                     "content": [{"type": "text", "text": "timeout"}]},
                    {"type": "text", "text": "and tomorrow?"},
                ],
            },
        ],
    )  # fmt: skip


# --- ingress decoding ----------------------------------------------------------------------


def test_decode_minimal() -> None:
    req = anthropic.decode_chat_request(_body(unknown_field=1))
    assert req == ChatRequest(
        model="claude-x",
        messages=[Message("user", [TextPart("hi")])],
        max_tokens=100,
        ignored=["unknown_field"],  # named when a provider of another format serves it
    )


def test_decode_multi_turn_tools() -> None:
    req = anthropic.decode_chat_request(_multi_turn())
    assert req.system == [TextPart("be brief", {"type": "ephemeral"})]
    assert req.tools == [
        Tool("get_weather", "Weather for a city", WEATHER_TOOL["input_schema"])  # type: ignore[arg-type]
    ]
    assert req.tool_choice == ToolChoice("required", None, parallel=False)
    assert req.messages == [
        Message("user", [TextPart("weather in Paris and Rome?")]),
        Message(
            "assistant",
            [TextPart("Checking.")],
            tool_calls=[
                ToolCall("tu_1", "get_weather", '{"city":"Paris"}'),
                ToolCall("tu_2", "get_weather", '{"city":"Rome"}'),
            ],
            thinking=[ThinkingPart("hmm", "sig")],  # kept, with its signature
        ),
        Message("tool", [TextPart("sunny")], tool_call_id="tu_1"),
        Message("tool", [TextPart("timeout")], tool_call_id="tu_2", is_error=True),
        Message("user", [TextPart("and tomorrow?")]),
    ]


def test_decode_tool_result_keeps_order_with_user_text() -> None:
    req = anthropic.decode_chat_request(
        _body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "before"},
                        {"type": "tool_result", "tool_use_id": "a"},
                        {"type": "text", "text": "after"},
                    ],
                }
            ]
        )
    )
    assert req.messages == [
        Message("user", [TextPart("before")]),
        Message("tool", [], tool_call_id="a"),
        Message("user", [TextPart("after")]),
    ]


def test_decode_images_and_options() -> None:
    image_b64 = {"type": "base64", "media_type": "image/png", "data": "AAAA"}
    req = anthropic.decode_chat_request(
        _body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": image_b64},
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                        {"type": "text", "text": "what is this?"},
                    ],
                }
            ],
            system="sys",
            stop_sequences=["END"],
            temperature=0.5,
            top_p=1,
            top_k=40,
            metadata={"user_id": "u-1"},
            stream=True,
            tool_choice={"type": "tool", "name": "get_weather"},
        )
    )
    assert req.messages[0].content == [
        ImagePart(data="AAAA", media_type="image/png"),
        ImagePart(url="https://x/y.png"),
        TextPart("what is this?"),
    ]
    assert req.system == [TextPart("sys")]
    assert (req.stop, req.temperature, req.top_p, req.top_k) == (["END"], 0.5, 1.0, 40)
    assert req.user == "u-1"
    assert req.stream and req.include_usage
    assert req.tool_choice == ToolChoice("tool", "get_weather")


def test_count_tokens_request_needs_no_max_tokens() -> None:
    body = _body()
    del body["max_tokens"]
    req = anthropic.decode_count_tokens_request(body)
    assert req.max_tokens is None and req.messages[0].text() == "hi"
    with pytest.raises(InvalidRequest):
        anthropic.decode_chat_request(body)


@pytest.mark.parametrize(
    ("change", "param", "words"),
    [
        ({"model": None}, "model", "expected a string"),
        ({"max_tokens": None}, "max_tokens", "field required"),
        ({"max_tokens": "10"}, "max_tokens", "expected an integer"),
        ({"max_tokens": 0}, "max_tokens", "at least 1"),
        ({"messages": {}}, "messages", "expected an array"),
        ({"messages": []}, "messages", "at least one"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role", "'system'"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content", "array"),
        (
            {"messages": [{"role": "user", "content": [{"type": "foo"}]}]},
            "messages.0.content.0.type",
            "unknown content block type 'foo'",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "document"}]}]},
            "messages.0.content.0.type",
            "not supported",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_use"}]}]},
            "messages.0.content.0.type",
            "not allowed in a user turn",
        ),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "text", "text": 1}]}]},
            "messages.0.content.0.text",
            "expected a string",
        ),
        (
            {"messages": [{"role": "assistant", "content": [
                {"type": "tool_use", "id": "a", "name": "f", "input": "x"}]}]},
            "messages.0.content.0.input",
            "expected an object",
        ),
        (
            {"messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
            "messages.0.content.0.source.type",
            "unsupported image source",
        ),
        (
            {"messages": [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "x"}]}]}]},
            "messages.0.content.0.content.0.type",
            "unsupported",
        ),
        ({"system": [{"type": "image"}]}, "system.0.type", "expected 'text'"),
        ({"system": 3}, "system", "expected an array"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type",
         "server tool 'web_search_20250305'"),
        ({"tools": [{"name": "f"}]}, "tools.0.input_schema", "expected an object"),
        ({"tool_choice": {"type": "some"}}, "tool_choice.type", "auto, any, tool or none"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name", "expected a string"),
        ({"stop_sequences": ["a", 1]}, "stop_sequences.1", "expected a string"),
        ({"temperature": "hot"}, "temperature", "expected a number"),
        ({"top_k": 1.5}, "top_k", "expected an integer"),
        ({"metadata": {"user_id": 7}}, "metadata.user_id", "expected a string"),
        ({"stream": "yes"}, "stream", "expected a boolean"),
    ],
)  # fmt: skip
def test_validation_names_the_field(change: dict[str, Any], param: str, words: str) -> None:
    body = _body(**change)
    with pytest.raises(InvalidRequest) as info:
        anthropic.decode_chat_request(body)
    assert info.value.param == param
    assert info.value.message.startswith(f"{param}: ")
    assert words in info.value.message
    assert info.value.status == 400


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidRequest, match="JSON object"):
        anthropic.decode_chat_request([1])
    body = _body()
    del body["messages"]
    with pytest.raises(InvalidRequest, match="messages: field required"):
        anthropic.decode_chat_request(body)


# --- provider-side encoding ----------------------------------------------------------------


def test_round_trip_multi_turn() -> None:
    req = anthropic.decode_chat_request(_multi_turn())
    body = anthropic.encode_chat_request(req, model="claude-real")
    assert body["model"] == "claude-real"
    assert body["system"] == [
        {"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "hmm",
        "signature": "sig",
    }
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["tools"] == [WEATHER_TOOL]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "tu_1",
        "content": [{"type": "text", "text": "sunny"}],
    }
    assert body["messages"][2]["content"][1]["is_error"] is True
    assert body["messages"][2]["content"][2] == {"type": "text", "text": "and tomorrow?"}
    # Decoding what was sent yields the same canonical request.
    again = anthropic.decode_chat_request(orjson.loads(orjson.dumps(body)))
    again.model = req.model
    assert again == req


def test_encode_minimal_sends_only_set_fields() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])])
    body = anthropic.encode_chat_request(req, model="claude", default_max_tokens=77)
    assert body == {
        "model": "claude",
        "max_tokens": 77,
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_encode_options() -> None:
    req = ChatRequest(
        model="m",
        messages=[Message("user", [TextPart("hi")])],
        max_tokens=5,
        stop=["x"],
        temperature=0.2,
        top_p=0.9,
        top_k=3,
        user="u",
        stream=True,
        tools=[Tool("f", parameters={}, strict=True)],
        tool_choice=ToolChoice("tool", "f"),
    )
    body = anthropic.encode_chat_request(req, model="c")
    assert body["max_tokens"] == 5
    assert body["stop_sequences"] == ["x"]
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.9, 3)
    assert body["metadata"] == {"user_id": "u"}
    assert body["stream"] is True
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}, "strict": True}]
    assert body["tool_choice"] == {"type": "tool", "name": "f"}


def test_tool_choice_mapping_back() -> None:
    def choice(tc: ToolChoice) -> Any:
        req = ChatRequest("m", [Message("user", [TextPart("x")])], tools=[Tool("f")])
        req.tool_choice = tc
        return anthropic.encode_chat_request(req, model="c")["tool_choice"]

    assert choice(ToolChoice("required")) == {"type": "any"}
    assert choice(ToolChoice("auto", parallel=False)) == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    assert choice(ToolChoice("auto", parallel=True)) == {"type": "auto"}
    assert choice(ToolChoice("none")) == {"type": "none"}
    no_tools = ChatRequest("m", [Message("user", [TextPart("x")])], tool_choice=ToolChoice())
    assert "tool_choice" not in anthropic.encode_chat_request(no_tools, model="c")


def test_alternation_merging() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            Message("user", [TextPart("a")]),
            Message("user", [TextPart("b")]),
            Message("assistant", [TextPart("")], tool_calls=[ToolCall("c1", "f", "")]),
            Message("assistant", [TextPart("more")]),
            Message("user", [TextPart("interjection")]),
            Message("tool", [TextPart("r1")], tool_call_id="c1"),
            Message("tool", [], tool_call_id="c2"),
            Message("user", [TextPart("next")]),
        ],
    )
    msgs = anthropic.encode_chat_request(req, model="c")["messages"]
    assert msgs == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "c1", "name": "f", "input": {}},
                {"type": "text", "text": "more"},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1",
                 "content": [{"type": "text", "text": "r1"}]},
                {"type": "tool_result", "tool_use_id": "c2"},
                {"type": "text", "text": "interjection"},
                {"type": "text", "text": "next"},
            ],
        },
    ]  # fmt: skip


def test_images_to_provider() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            Message(
                "user",
                [
                    ImagePart(url="https://x/a.png", detail="high"),
                    ImagePart(data="QUJD", media_type="image/jpeg"),
                    ImagePart(url="data:image/gif;base64,R0lG"),
                ],
            )
        ],
    )
    content = anthropic.encode_chat_request(req, model="c")["messages"][0]["content"]
    assert [c["source"] for c in content] == [
        {"type": "url", "url": "https://x/a.png"},
        {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"},
        {"type": "base64", "media_type": "image/gif", "data": "R0lG"},
    ]
    bad = ChatRequest("m", [Message("user", [ImagePart(url="data:text/plain,hello")])])
    with pytest.raises(InvalidRequest, match=r"messages\.0\.content\.0"):
        anthropic.encode_chat_request(bad, model="c")


def test_invalid_tool_arguments_name_the_message() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            Message("user", [TextPart("x")]),
            Message("assistant", tool_calls=[ToolCall("c", "f", "{not json")]),
        ],
    )
    with pytest.raises(InvalidRequest) as info:
        anthropic.encode_chat_request(req, model="c")
    assert info.value.param == "messages.1.tool_calls.0.arguments"


def test_unexpressible_fields_are_dropped_and_n_raises() -> None:
    req = ChatRequest(
        model="m",
        messages=[Message("user", [TextPart("x")], name="bob")],
        response_format=ResponseFormat("json_schema", "s", {"type": "object"}),
        seed=1,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        n=1,
        include_usage=True,
        metadata={"k": "v"},
    )
    body = anthropic.encode_chat_request(req, model="c")
    assert body == {
        "model": "c",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "x"}],
    }
    req.n = 2
    with pytest.raises(InvalidRequest, match="n > 1 is not supported by"):
        anthropic.encode_chat_request(req, model="c")


def test_count_tokens_request_body() -> None:
    req = anthropic.decode_chat_request(_multi_turn() | {"temperature": 0.3, "stream": True})
    body = anthropic.encode_count_tokens_request(req, model="c")
    assert set(body) == {"model", "messages", "system", "tools", "tool_choice"}


def test_cache_control_is_carried_on_every_block_that_takes_it() -> None:
    marker = {"type": "ephemeral", "ttl": "1h"}
    req = anthropic.decode_chat_request(
        _body(
            system=[{"type": "text", "text": "rules", "cache_control": marker}],
            tools=[{**WEATHER_TOOL, "cache_control": marker}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "doc", "cache_control": marker},
                        {"type": "image", "cache_control": marker,
                         "source": {"type": "url", "url": "https://x/i.png"}},
                    ],
                },
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "ok",
                     "cache_control": marker}]},
            ],
        )
    )  # fmt: skip
    body = anthropic.encode_chat_request(req, model="claude")
    assert body["system"][0]["cache_control"] == marker
    assert body["tools"][0]["cache_control"] == marker
    user = body["messages"][0]["content"]
    assert user[0]["cache_control"] == marker and user[1]["cache_control"] == marker
    assert body["messages"][2]["content"][0]["cache_control"] == marker
    # OpenAI caches prompts by itself: the markers are named as dropped there.
    assert openai.dropped_params(req) == ["cache_control"]


def test_a_lone_text_block_with_cache_control_stays_a_block() -> None:
    req = anthropic.decode_chat_request(
        _body(messages=[{"role": "user", "content": [
            {"type": "text", "text": "big", "cache_control": {"type": "ephemeral"}}]}])
    )  # fmt: skip
    content = anthropic.encode_chat_request(req, model="c")["messages"][0]["content"]
    assert content == [{"type": "text", "text": "big", "cache_control": {"type": "ephemeral"}}]
