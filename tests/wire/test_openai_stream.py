"""OpenAI chat-completion streams: the client-side encoder and the upstream decoder."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from lockgate.errors import UpstreamProtocolError, UpstreamStatusError
from lockgate.wire.openai import ChatStreamDecoder, ChatStreamEncoder
from lockgate.wire.sse import SSEEvent, SSEParser
from lockgate.wire.types import (
    Chunk,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

USAGE = Usage(input_tokens=12, output_tokens=7, cached_input_tokens=3)

TEXT_STREAM: list[Chunk] = [
    StreamStart(id="chatcmpl-abc", model="upstream-x", created=1700000000),
    TextDelta("Hel"),
    TextDelta("lo"),
    StreamEnd(stop_reason="stop", usage=USAGE),
]

TOOL_STREAM: list[Chunk] = [
    StreamStart(id="chatcmpl-t", model="upstream-x", created=1700000001),
    TextDelta("Checking."),
    ToolCallStart(index=0, id="call_a", name="weather"),
    ToolCallDelta(index=0, arguments='{"city":'),
    ToolCallDelta(index=0, arguments='"Paris"}'),
    ToolCallStart(index=1, id="call_b", name="time"),
    ToolCallDelta(index=1, arguments="{}"),
    StreamEnd(stop_reason="tool_calls", usage=USAGE),
]


def _encode(chunks: list[Chunk], include_usage: bool, model: str = "client-model") -> bytes:
    enc = ChatStreamEncoder(model=model, include_usage=include_usage)
    return b"".join(enc.encode(c) for c in chunks) + enc.close()


def _events(raw: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return parser.feed(raw) + parser.close()


def _decode(events: list[SSEEvent]) -> list[Chunk]:
    dec = ChatStreamDecoder()
    out: list[Chunk] = []
    for e in events:
        out += dec.feed(e)
    return out + dec.close()


def _sdk_chunks(raw: bytes) -> list[ChatCompletionChunk]:
    events = _events(raw)
    assert events[-1].data == "[DONE]"
    return [ChatCompletionChunk.model_validate(orjson.loads(e.data)) for e in events[:-1]]


@pytest.mark.parametrize("include_usage", [True, False])
def test_encoder_output_parses_with_sdk(include_usage: bool) -> None:
    raw = _encode(TOOL_STREAM, include_usage)
    assert raw.endswith(b"data: [DONE]\n\n")
    chunks = _sdk_chunks(raw)
    assert {(c.id, c.created, c.model) for c in chunks} == {
        ("chatcmpl-t", 1700000001, "client-model")
    }
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content == ""
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Checking."
    args: dict[int, str] = {}
    names: dict[int, str | None] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            if tc.id is not None:
                assert tc.type == "function" and tc.function is not None
                names[tc.index] = tc.function.name
            assert tc.function is not None
            args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
    assert names == {0: "weather", 1: "time"}
    assert args == {0: '{"city":"Paris"}', 1: "{}"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls" and set(finishes[:-1]) == {None}
    if include_usage:
        last = chunks[-1]
        assert last.choices == [] and last.usage is not None
        assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (12, 7)
        assert last.usage.total_tokens == 19
        assert last.usage.prompt_tokens_details is not None
        assert last.usage.prompt_tokens_details.cached_tokens == 3
        # As OpenAI does: every earlier chunk carries an explicit "usage": null.
        for e in _events(raw)[:-2]:
            assert orjson.loads(e.data)["usage"] is None
    else:
        assert all(c.choices for c in chunks)
        assert all("usage" not in orjson.loads(e.data) for e in _events(raw)[:-1])


@pytest.mark.parametrize("stream", [TEXT_STREAM, TOOL_STREAM])
def test_encoder_then_decoder_round_trip(stream: list[Chunk]) -> None:
    back = _decode(_events(_encode(stream, include_usage=True, model="upstream-x")))
    assert back == stream


def test_round_trip_without_usage_ends_at_done() -> None:
    back = _decode(_events(_encode(TEXT_STREAM, include_usage=False, model="upstream-x")))
    assert back == [*TEXT_STREAM[:-1], StreamEnd(stop_reason="stop", usage=None)]


def test_encoder_skips_empty_deltas_and_omits_unknown_usage() -> None:
    enc = ChatStreamEncoder(model="m", include_usage=True)
    enc.encode(StreamStart(id="a", model="x"))
    assert enc.encode(TextDelta("")) == b""
    assert enc.encode(ToolCallDelta(index=0, arguments="")) == b""
    end = _events(enc.encode(StreamEnd(stop_reason="length")))
    assert len(end) == 1
    assert orjson.loads(end[0].data)["choices"][0]["finish_reason"] == "length"


# --- the decoder on upstream-shaped streams --------------------------------------------------


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> SSEEvent:
    body: dict[str, Any] = {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1710000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_1",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    body.update(extra)
    return SSEEvent(orjson.dumps(body).decode())


DONE = SSEEvent("[DONE]")
START = StreamStart(id="chatcmpl-up", model="gpt-4o-mini-2024-07-18", created=1710000000)
OPENAI_USAGE = {
    "prompt_tokens": 20,
    "completion_tokens": 5,
    "total_tokens": 25,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def test_usage_chunk_after_finish() -> None:
    dec = ChatStreamDecoder()
    assert dec.feed(_chunk({"role": "assistant", "content": ""}, usage=None)) == [START]
    assert dec.feed(_chunk({"content": "Hi"}, usage=None)) == [TextDelta("Hi")]
    # The end is held back until the usage chunk arrives.
    assert dec.feed(_chunk({}, "stop", usage=None)) == []
    assert dec.feed(_chunk(None, usage=OPENAI_USAGE)) == [
        StreamEnd(stop_reason="stop", usage=Usage(input_tokens=20, output_tokens=5))
    ]
    assert dec.feed(DONE) == []
    assert dec.close() == []


def test_usage_on_the_finish_chunk() -> None:
    events = [
        _chunk({"role": "assistant", "content": "Hi"}),
        _chunk({}, "length", usage={"prompt_tokens": 3, "completion_tokens": 9}),
        DONE,
    ]
    assert _decode(events) == [
        START,
        TextDelta("Hi"),
        StreamEnd(stop_reason="length", usage=Usage(input_tokens=3, output_tokens=9)),
    ]


def test_done_missing_still_ends_on_close() -> None:
    events = [_chunk({"content": "Hi"}), _chunk({}, "stop")]
    assert _decode(events) == [START, TextDelta("Hi"), StreamEnd(stop_reason="stop")]


def test_tool_call_deltas_and_legacy_finish_reason() -> None:
    tc0 = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    tc1 = {
        "index": 1,
        "id": "call_2",
        "type": "function",
        "function": {"name": "g", "arguments": "{}"},
    }
    events = [
        _chunk({"role": "assistant", "content": None, "tool_calls": [tc0]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
        _chunk({"tool_calls": [tc1]}),
        _chunk({}, "function_call"),
        _chunk(None, usage=OPENAI_USAGE),
        DONE,
    ]
    assert _decode(events) == [
        START,
        ToolCallStart(index=0, id="call_1", name="f"),
        ToolCallDelta(index=0, arguments='{"a"'),
        ToolCallDelta(index=0, arguments=":1}"),
        ToolCallStart(index=1, id="call_2", name="g"),
        ToolCallDelta(index=1, arguments="{}"),
        StreamEnd(stop_reason="tool_calls", usage=Usage(input_tokens=20, output_tokens=5)),
    ]


def test_azure_prompt_filter_chunk_is_skipped() -> None:
    azure_first = SSEEvent(
        orjson.dumps(
            {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": [],
            }
        ).decode()
    )
    events = [azure_first, _chunk({"content": "ok"}), _chunk({}, "content_filter"), DONE]
    assert _decode(events) == [START, TextDelta("ok"), StreamEnd(stop_reason="content_filter")]


def test_done_without_finish_reason_infers_it() -> None:
    tc = {"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}
    out = _decode([_chunk({"tool_calls": [tc]}), DONE])
    assert out[-1] == StreamEnd(stop_reason="tool_calls")


def test_error_event_mid_stream() -> None:
    dec = ChatStreamDecoder()
    dec.feed(_chunk({"content": "Hi"}))
    err = SSEEvent(
        '{"error":{"message":"The server had an error","type":"server_error","code":null}}'
    )
    with pytest.raises(UpstreamStatusError) as info:
        dec.feed(err)
    assert info.value.upstream_status == 502
    assert info.value.message == "The server had an error"
    assert info.value.upstream_type == "server_error"
    assert info.value.provider == "openai"


def test_named_error_event() -> None:
    with pytest.raises(UpstreamStatusError, match="mid-stream"):
        ChatStreamDecoder().feed(SSEEvent("{}", event="error"))


def test_stream_cut_before_finish() -> None:
    dec = ChatStreamDecoder()
    dec.feed(_chunk({"content": "Hi"}))
    with pytest.raises(UpstreamProtocolError, match="ended before the response finished"):
        dec.close()
    with pytest.raises(UpstreamProtocolError):
        ChatStreamDecoder().close()


@pytest.mark.parametrize("data", ["{not json", "[1,2]", '"x"'])
def test_malformed_event(data: str) -> None:
    with pytest.raises(UpstreamProtocolError):
        ChatStreamDecoder().feed(SSEEvent(data))


def test_stream_end_emitted_once() -> None:
    dec = ChatStreamDecoder()
    out = dec.feed(_chunk({}, "stop", usage=OPENAI_USAGE))
    assert [type(c) for c in out] == [StreamStart, StreamEnd]
    assert dec.feed(_chunk(None, usage=OPENAI_USAGE)) == []
    assert dec.feed(DONE) == []
    assert dec.close() == []
