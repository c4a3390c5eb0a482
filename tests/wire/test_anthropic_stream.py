"""Anthropic streaming: our SSE is what the official SDK accepts, and upstream SSE decodes."""

from __future__ import annotations

from typing import Any

import anthropic as sdk
import httpx2
import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from lockgate.errors import UpstreamProtocolError, UpstreamStatusError
from lockgate.wire import anthropic
from lockgate.wire.sse import SSEEvent, SSEParser
from lockgate.wire.types import (
    Chunk,
    StreamEnd,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

START_USAGE = Usage(input_tokens=1110, cached_input_tokens=100, cache_creation_input_tokens=1000)
END_USAGE = Usage(1110, 42, 100, 1000)

CHUNKS: list[Chunk] = [
    StreamStart(id="msg_1", model="claude-real", usage=START_USAGE),
    TextDelta("Let me "),
    TextDelta("check."),
    ToolCallStart(0, "tu_1", "get_weather"),
    ToolCallDelta(0, '{"city": '),
    ToolCallDelta(0, '"Paris"}'),
    ToolCallStart(1, "tu_2", "get_time"),
    ToolCallDelta(1, "{}"),
    StreamEnd("tool_calls", None, END_USAGE),
]


def _encode(chunks: list[Chunk], **kw: Any) -> bytes:
    enc = anthropic.ChatStreamEncoder(model="alias", **kw)
    return b"".join(enc.encode(c) for c in chunks) + enc.close()


def _events(raw: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return parser.feed(raw) + parser.close()


def _decode(events: list[SSEEvent]) -> list[Chunk]:
    dec = anthropic.ChatStreamDecoder()
    out: list[Chunk] = []
    for ev in events:
        out += dec.feed(ev)
    return out + dec.close()


def _sse(*events: dict[str, Any]) -> list[SSEEvent]:
    return [SSEEvent(orjson.dumps(e).decode(), str(e["type"])) for e in events]


# --- encoder -------------------------------------------------------------------------------


def test_encoder_events_validate_and_accumulate_in_the_sdk() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    snapshot = None
    bufs: dict[int, bytes] = {}
    events = _events(_encode(CHUNKS))
    for ev in events:
        data = orjson.loads(ev.data)
        assert ev.event == data["type"]
        event = adapter.validate_python(data)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)
    assert snapshot is not None
    msg = snapshot.to_dict()
    assert [e.event for e in events][:3] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
    ]
    assert msg["model"] == "alias" and msg["id"] == "msg_1"
    assert msg["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "tu_2", "name": "get_time", "input": {}},
    ]
    assert msg["stop_reason"] == "tool_use"
    assert msg["usage"] == {
        "input_tokens": 10,
        "output_tokens": 42,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 1000,
    }


def test_block_indexes_and_stops() -> None:
    events = [orjson.loads(e.data) for e in _events(_encode(CHUNKS))]
    kinds = [(e["type"], e.get("index")) for e in events]
    assert kinds == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]


def test_real_sdk_stream() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert orjson.loads(request.content)["stream"] is True
        headers = {"content-type": "text/event-stream"}
        return httpx2.Response(200, content=_encode(CHUNKS), headers=headers)

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = sdk.Anthropic(api_key="k", base_url="http://gw", http_client=http, max_retries=0)
    with (
        client,
        client.messages.stream(
            model="alias", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Let me check."
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.usage.output_tokens == 42 and final.usage.input_tokens == 10


def test_round_trip_through_decoder() -> None:
    assert _decode(_events(_encode(CHUNKS))) == [
        StreamStart(id="msg_1", model="alias", usage=START_USAGE),
        *CHUNKS[1:],
    ]


def test_encoder_edge_cases() -> None:
    chunks: list[Chunk] = [
        TextDelta(""),
        ToolCallStart(0, "a", "f"),
        ToolCallDelta(5, "{}"),  # never started: dropped
        TextDelta("after"),
        StreamEnd("stop", "END", None),
        TextDelta("late"),
    ]
    raw = _encode(chunks, include_usage=False)
    events = [orjson.loads(e.data) for e in _events(raw)]
    assert events[0]["type"] == "message_start"  # started lazily
    assert events[0]["message"]["model"] == "alias"
    assert [(e["type"], e.get("index")) for e in events[1:]] == [
        ("content_block_start", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert events[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    assert events[-2]["usage"] == {"output_tokens": 0}


# --- decoder on upstream streams -----------------------------------------------------------

UPSTREAM_STREAM = _sse(
    {
        "type": "message_start",
        "message": {
            "id": "msg_up",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5},
        },
    },
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking",
     "thinking": "", "signature": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta",
     "thinking": "hmm"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta",
     "signature": "EqQB"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use",
     "id": "toolu_1", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta",
     "partial_json": ""}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta",
     "partial_json": "{\"city\": \"Paris\"}"}},
    {"type": "content_block_stop", "index": 2},
    {"type": "ping"},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
     "usage": {"output_tokens": 89}},
    {"type": "message_stop"},
)  # fmt: skip


def test_decoder_on_realistic_stream() -> None:
    assert _decode(UPSTREAM_STREAM) == [
        StreamStart("msg_up", "claude-sonnet", usage=Usage(30, 1, 5, 0)),
        ThinkingDelta("hmm"),
        ThinkingDelta(signature="EqQB"),
        TextDelta("Hi"),
        ToolCallStart(0, "toolu_1", "get_weather"),
        ToolCallDelta(0, '{"city": "Paris"}'),
        StreamEnd("tool_calls", None, Usage(30, 89, 5, 0)),
    ]


def test_thinking_round_trips_through_the_encoder() -> None:
    """Decoded thinking (text, signature, redacted data) is re-encoded as the blocks and
    deltas the SDK accumulates into thinking blocks with their signatures."""
    chunks = _decode(UPSTREAM_STREAM)
    redacted = ThinkingDelta(redacted="opaque")
    enc = anthropic.ChatStreamEncoder(model="alias")
    raw = b"".join(enc.encode(c) for c in [chunks[0], redacted, *chunks[1:]]) + enc.close()
    events = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert [b["type"] for b in starts] == ["redacted_thinking", "thinking", "text", "tool_use"]
    assert starts[0]["data"] == "opaque"
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert deltas[0] == {"type": "thinking_delta", "thinking": "hmm"}
    assert deltas[1] == {"type": "signature_delta", "signature": "EqQB"}
    indexes = [e["index"] for e in events if e["type"] == "content_block_stop"]
    assert indexes == [0, 1, 2, 3]


def test_stream_end_exactly_once() -> None:
    dec = anthropic.ChatStreamDecoder()
    out: list[Chunk] = []
    for ev in [*UPSTREAM_STREAM, *_sse({"type": "message_stop"})]:
        out += dec.feed(ev)
    out += dec.close()
    assert sum(isinstance(c, StreamEnd) for c in out) == 1


def test_missing_message_stop_still_ends() -> None:
    chunks = _decode(UPSTREAM_STREAM[:-1])
    assert chunks[-1] == StreamEnd("tool_calls", None, Usage(30, 89, 5, 0))


def test_truncated_stream_raises() -> None:
    with pytest.raises(UpstreamProtocolError, match="ended before the response finished"):
        _decode(UPSTREAM_STREAM[:9])


@pytest.mark.parametrize(
    ("kind", "status"), [("overloaded_error", 503), ("api_error", 502), (None, 502)]
)
def test_error_event(kind: str | None, status: int) -> None:
    error = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    with pytest.raises(UpstreamStatusError) as info:
        _decode([*UPSTREAM_STREAM[:3], *_sse(error)])
    assert info.value.upstream_status == status
    assert info.value.upstream_type == kind
    assert info.value.provider == "anthropic"
    assert info.value.message == "Overloaded"


@pytest.mark.parametrize(
    ("events", "words"),
    [
        ([SSEEvent("{not json", "message_start")], "not JSON"),
        ([SSEEvent("[1]", None)], "not an object"),
        (_sse({"type": "content_block_start", "index": 0}), "before message_start"),
        ([*UPSTREAM_STREAM[:1], *_sse({"type": "content_block_start"})], "content_block_start"),
        (_sse({"type": "message_start"}), "no message"),
    ],
)
def test_malformed_stream(events: list[SSEEvent], words: str) -> None:
    with pytest.raises(UpstreamProtocolError, match=words):
        _decode(events)


def test_unknown_events_and_prefilled_tool_input() -> None:
    events = [
        *UPSTREAM_STREAM[:1],
        *_sse(
            {"type": "future_event"},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
            },
            {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {}},
        ),
    ]
    chunks = _decode(events)
    assert chunks[1:] == [
        ToolCallStart(0, "t", "f"),
        ToolCallDelta(0, '{"a":1}'),
        StreamEnd("length", None, Usage(30, 1, 5, 0)),
    ]
