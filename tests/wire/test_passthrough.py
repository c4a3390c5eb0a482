"""Same-format passthrough codecs: the body sent, the reply relayed, stream events scanned."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lockgate.errors import UpstreamProtocolError, UpstreamStatusError
from lockgate.wire.anthropic_passthrough import ANTHROPIC_PASSTHROUGH
from lockgate.wire.openai_passthrough import OPENAI_PASSTHROUGH
from lockgate.wire.sse import SSEEvent
from lockgate.wire.types import Usage

COUNTED = Usage(input_tokens=11, output_tokens=7)


def counted() -> Usage:
    return COUNTED


def _events(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]


# --- OpenAI ------------------------------------------------------------------------------------


def test_openai_prepare_changes_only_the_model_and_stream_usage() -> None:
    body = {"model": "alias", "messages": [], "verbosity": "low", "stream_options": {"x": 1}}
    out = OPENAI_PASSTHROUGH.prepare(body, "gpt-5", True)
    assert out == {**body, "model": "gpt-5", "stream_options": {"x": 1, "include_usage": True}}
    assert body["model"] == "alias"  # the client's body is not touched (retries reuse it)
    assert OPENAI_PASSTHROUGH.prepare(body, "gpt-5", False)["stream_options"] == {"x": 1}


def test_openai_reply_keeps_everything_and_reads_usage_exactly() -> None:
    reply = {
        "id": "c1",
        "model": "gpt-5-2025",
        "choices": [{"index": 0, "message": {"content": "hi", "annotations": []}}],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 30},
        },
        "service_tier": "flex",
    }
    upstream = orjson.dumps(reply, option=orjson.OPT_INDENT_2)  # as a provider may format it
    raw, usage = OPENAI_PASSTHROUGH.reply(dict(reply), upstream, "alias")
    assert raw == upstream.replace(b'"model": "gpt-5-2025"', b'"model": "alias"')
    assert usage == Usage(100, 50, cached_input_tokens=64, reasoning_tokens=30)


def _chunk(**fields: Any) -> SSEEvent:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "gpt-5-2025"}
    return SSEEvent(orjson.dumps({**base, **fields}).decode())


def test_openai_scanner_swaps_the_model_and_takes_usage() -> None:
    scan = OPENAI_PASSTHROUGH.scanner("alias", False, counted)
    text = scan.event(_chunk(choices=[{"index": 0, "delta": {"content": "x"}}], usage=None))
    assert _events(text)[0]["model"] == "alias" and _events(text)[0]["choices"][0]["delta"]
    end = scan.event(_chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    assert _events(end)[0]["model"] == "alias" and scan.ended
    usage = {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    # The client did not ask for usage: the usage chunk is read, not forwarded.
    assert scan.event(_chunk(choices=[], usage=usage)) == b""
    assert scan.usage == Usage(3, 2, reasoning_tokens=1)
    assert scan.event(SSEEvent("[DONE]")) == b"data: [DONE]\n\n"


def test_openai_scanner_forwards_usage_when_asked_and_counts_when_missing() -> None:
    scan = OPENAI_PASSTHROUGH.scanner("alias", True, counted)
    scan.event(_chunk(choices=[{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]))
    tail = scan.event(SSEEvent("[DONE]"))
    [usage_chunk] = _events(tail)
    assert usage_chunk["choices"] == [] and usage_chunk["model"] == "alias"
    assert usage_chunk["usage"]["completion_tokens"] == 7 and tail.endswith(b"data: [DONE]\n\n")
    scan = OPENAI_PASSTHROUGH.scanner("alias", True, counted)
    scan.event(_chunk(choices=[{"index": 0, "delta": {"content": "x"}}]))
    forwarded = scan.event(_chunk(choices=[], usage={"prompt_tokens": 1, "completion_tokens": 1}))
    assert _events(forwarded)[0]["usage"]["prompt_tokens"] == 1


def test_openai_scanner_raises_on_error_events_and_garbage() -> None:
    scan = OPENAI_PASSTHROUGH.scanner("alias", False, counted)
    with pytest.raises(UpstreamStatusError, match="overloaded"):
        scan.event(SSEEvent('{"error": {"message": "overloaded", "type": "server_error"}}'))
    with pytest.raises(UpstreamProtocolError):
        scan.event(SSEEvent("not json"))


def test_openai_scanner_skips_azure_prompt_filter_chunk_before_learning_the_model() -> None:
    scan = OPENAI_PASSTHROUGH.scanner("alias", False, counted)
    head = scan.event(SSEEvent('{"choices":[],"prompt_filter_results":[{"prompt_index":0}]}'))
    assert _events(head)[0]["prompt_filter_results"]
    out = scan.event(_chunk(choices=[{"index": 0, "delta": {"content": "y"}}]))
    assert _events(out)[0]["model"] == "alias"


# --- Anthropic -----------------------------------------------------------------------------------


def _event(kind: str, **fields: Any) -> SSEEvent:
    return SSEEvent(orjson.dumps({"type": kind, **fields}).decode(), kind)


def test_anthropic_prepare_and_reply() -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    body = {"model": "alias", "max_tokens": 5, "thinking": thinking, "messages": [],
            "context_management": {"edits": []}}  # fmt: skip
    assert ANTHROPIC_PASSTHROUGH.prepare(body, "claude-x", True) == {**body, "model": "claude-x"}
    reply = {
        "model": "claude-x",
        "content": [{"type": "thinking", "thinking": "t", "signature": "s"}],
        "usage": {"input_tokens": 10, "output_tokens": 4, "cache_read_input_tokens": 90,
                  "cache_creation_input_tokens": 5},
    }  # fmt: skip
    raw, usage = ANTHROPIC_PASSTHROUGH.reply(dict(reply), orjson.dumps(reply), "alias")
    assert raw == orjson.dumps({**reply, "model": "alias"})  # the same bytes, model swapped
    # A reply whose model name also appears elsewhere unescaped is re-serialised instead.
    twice = {**reply, "container": {"model": "claude-x"}}
    again, _ = ANTHROPIC_PASSTHROUGH.reply(dict(twice), orjson.dumps(twice), "alias")
    assert orjson.loads(again) == {**twice, "model": "alias"}
    assert usage == Usage(105, 4, cached_input_tokens=90, cache_creation_input_tokens=5)


def test_anthropic_scanner_forwards_blocks_and_reads_cumulative_usage() -> None:
    scan = ANTHROPIC_PASSTHROUGH.scanner("alias", True, counted)
    start_usage = {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 90}
    start = scan.event(_event("message_start", message={"model": "claude-x", "usage": start_usage}))
    assert (
        start.startswith(b"event: message_start\n")
        and _events(start)[0]["message"]["model"] == "alias"
    )
    assert scan.input_usage == Usage(100, 1, cached_input_tokens=90)
    sig = _event(
        "content_block_delta", index=0, delta={"type": "signature_delta", "signature": "S"}
    )
    assert scan.event(sig) == b"event: content_block_delta\ndata: " + sig.data.encode() + b"\n\n"
    scan.event(
        _event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 40})
    )
    assert scan.usage == Usage(100, 40, cached_input_tokens=90)
    scan.event(_event("message_stop"))
    assert scan.ended


def test_anthropic_scanner_counts_when_the_provider_reports_no_usage() -> None:
    scan = ANTHROPIC_PASSTHROUGH.scanner("alias", True, counted)
    start = scan.event(_event("message_start", message={"model": "claude-x"}))
    assert _events(start)[0]["message"]["usage"] == {"input_tokens": 11, "output_tokens": 0}
    delta = scan.event(_event("message_delta", delta={"stop_reason": "end_turn"}))
    assert _events(delta)[0]["usage"] == {"output_tokens": 7}
    assert scan.usage is None  # settled as counted, not as reported


def test_anthropic_scanner_error_event_is_overloaded() -> None:
    scan = ANTHROPIC_PASSTHROUGH.scanner("alias", True, counted)
    with pytest.raises(UpstreamStatusError) as err:
        scan.event(_event("error", error={"type": "overloaded_error", "message": "busy"}))
    assert err.value.http_status == 503 and err.value.upstream_type == "overloaded_error"


# --- blocks of events as they arrive -------------------------------------------------------------


def _sse_block(*events: SSEEvent) -> bytes:
    out = b""
    for e in events:
        head = b"event: " + e.event.encode() + b"\n" if e.event else b""
        out += head + b"data: " + e.data.encode() + b"\n\n"
    return out


def test_openai_blocks_without_marks_are_forwarded_with_only_the_model_swapped() -> None:
    scan = OPENAI_PASSTHROUGH.scanner("alias", False, counted)
    first = _sse_block(_chunk(choices=[{"index": 0, "delta": {"role": "assistant"}}]))
    assert _events(scan.block(first))[0]["model"] == "alias"  # parsed: the model is learnt
    middle = _sse_block(
        _chunk(choices=[{"index": 0, "delta": {"content": "a"}}]),
        _chunk(choices=[{"index": 0, "delta": {"content": "b"}}]),
    )
    out = scan.block(middle)
    assert out == middle.replace(b'"model":"gpt-5-2025"', b'"model":"alias"')
    usage = {"prompt_tokens": 3, "completion_tokens": 2}
    last = _sse_block(
        _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        _chunk(choices=[], usage=usage),
        SSEEvent("[DONE]"),
    )
    tail = scan.block(last)
    assert [e["choices"][0]["finish_reason"] for e in _events(tail)] == ["stop"]  # no usage
    assert tail.endswith(b"data: [DONE]\n\n") and scan.usage == Usage(3, 2) and scan.ended


def test_anthropic_blocks_of_deltas_pass_untouched() -> None:
    scan = ANTHROPIC_PASSTHROUGH.scanner("alias", True, counted)
    deltas = _sse_block(
        _event("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "t"}),
        _event("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "S"}),
        _event("content_block_stop", index=0),
    )
    assert scan.block(deltas) is deltas  # not parsed, not copied
    end = _sse_block(
        _event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 9}),
        _event("message_stop"),
    )
    assert scan.block(end) == end and scan.usage == Usage(0, 9) and scan.ended
