"""Anthropic Messages streaming: canonical chunks to client SSE, and upstream SSE to chunks.

Part of the Anthropic codec; import the public names from ``lockgate.wire.anthropic``.

An Anthropic stream is ``message_start``, then per content block ``content_block_start``,
``content_block_delta``... and ``content_block_stop`` (blocks have increasing indexes and do
not interleave), then ``message_delta`` (stop reason, cumulative usage) and ``message_stop``.
``ping`` may appear anywhere; ``error`` ends the stream with a failure.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from lockgate.errors import UpstreamProtocolError, UpstreamStatusError
from lockgate.wire.anthropic_response import (
    stop_from_anthropic,
    stop_to_anthropic,
    usage_from_anthropic,
    usage_to_anthropic,
)
from lockgate.wire.sse import SSEEvent, encode_event
from lockgate.wire.types import (
    Chunk,
    StopReason,
    StreamEnd,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

_MESSAGE_STOP = encode_event(b'{"type":"message_stop"}', "message_stop")


def _event(name: str, data: dict[str, Any]) -> bytes:
    return encode_event(orjson.dumps(data), name)


class ChatStreamEncoder:
    """Canonical chunks -> the SSE events the Anthropic SDKs parse, for one response.

    Text opens a text block lazily; each tool call gets its own ``tool_use`` block; the open
    block is closed before another starts. With ``include_usage=False`` the final
    ``message_delta`` carries only ``output_tokens``, which the format requires.
    """

    __slots__ = (
        "_ended",
        "_include_usage",
        "_model",
        "_next",
        "_open",
        "_open_is_text",
        "_open_is_thinking",
        "_started",
        "_tools",
    )

    def __init__(self, *, model: str, include_usage: bool = True) -> None:
        self._model = model
        self._include_usage = include_usage
        self._started = False
        self._ended = False
        self._open: int | None = None  # index of the open block
        self._open_is_text = False
        self._open_is_thinking = False
        self._next = 0  # index of the next block
        self._tools: dict[int, int] = {}  # canonical tool index -> block index

    def encode(self, chunk: Chunk) -> bytes:
        if self._ended:
            return b""
        if isinstance(chunk, StreamStart):
            return b"" if self._started else self._start(chunk)
        # A producer that skipped StreamStart still yields a stream the SDKs accept.
        out = b"" if self._started else self._start(StreamStart(f"msg_{uuid.uuid4().hex}", ""))
        if isinstance(chunk, TextDelta):
            return out + self._text(chunk.text)
        if isinstance(chunk, ThinkingDelta):
            return out + self._thinking(chunk)
        if isinstance(chunk, ToolCallStart):
            return out + self._tool_start(chunk)
        if isinstance(chunk, ToolCallDelta):
            return out + self._tool_delta(chunk)
        return out + self._end(chunk)

    def close(self) -> bytes:
        return b""  # message_stop is written on StreamEnd

    def _start(self, chunk: StreamStart) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": chunk.id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_to_anthropic(chunk.usage),
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _open_block(self, block: dict[str, Any]) -> bytes:
        out = self._close_block()
        self._open = self._next
        self._open_is_thinking = False
        self._open_is_text = block["type"] == "text"
        self._next += 1
        start = {"type": "content_block_start", "index": self._open, "content_block": block}
        return out + _event("content_block_start", start)

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open, self._open_is_text = self._open, None, False
        self._open_is_thinking = False
        return _event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _text(self, text: str) -> bytes:
        if not text:
            return b""
        out = b""
        if not self._open_is_text:
            out = self._open_block({"type": "text", "text": ""})
        delta = {"type": "text_delta", "text": text}
        data = {"type": "content_block_delta", "index": self._open, "delta": delta}
        return out + _event("content_block_delta", data)

    def _thinking(self, chunk: ThinkingDelta) -> bytes:
        if chunk.redacted is not None:
            block = {"type": "redacted_thinking", "data": chunk.redacted}
            return self._open_block(block) + self._close_block()
        out = b""
        if not self._open_is_thinking:
            out = self._open_block({"type": "thinking", "thinking": "", "signature": ""})
            self._open_is_thinking = True
        if chunk.text:
            delta: dict[str, Any] = {"type": "thinking_delta", "thinking": chunk.text}
            data = {"type": "content_block_delta", "index": self._open, "delta": delta}
            out += _event("content_block_delta", data)
        if chunk.signature is not None:
            delta = {"type": "signature_delta", "signature": chunk.signature}
            data = {"type": "content_block_delta", "index": self._open, "delta": delta}
            out += _event("content_block_delta", data) + self._close_block()
        return out

    def _tool_start(self, chunk: ToolCallStart) -> bytes:
        block = {"type": "tool_use", "id": chunk.id, "name": chunk.name, "input": {}}
        out = self._open_block(block)
        self._tools[chunk.index] = self._next - 1
        return out

    def _tool_delta(self, chunk: ToolCallDelta) -> bytes:
        index = self._tools.get(chunk.index)
        if index is None or not chunk.arguments:
            return b""  # a fragment for a call that never started has nowhere to go
        delta = {"type": "input_json_delta", "partial_json": chunk.arguments}
        data = {"type": "content_block_delta", "index": index, "delta": delta}
        return _event("content_block_delta", data)

    def _end(self, chunk: StreamEnd) -> bytes:
        self._ended = True
        usage: dict[str, int]
        if self._include_usage and chunk.usage is not None:
            usage = usage_to_anthropic(chunk.usage)
        else:
            # Sending zeros for the input fields would overwrite message_start's counts.
            usage = {"output_tokens": chunk.usage.output_tokens if chunk.usage else 0}
        delta = {
            "stop_reason": stop_to_anthropic(chunk.stop_reason, chunk.stop_sequence),
            "stop_sequence": chunk.stop_sequence,
        }
        data = {"type": "message_delta", "delta": delta, "usage": usage}
        return self._close_block() + _event("message_delta", data) + _MESSAGE_STOP


class ChatStreamDecoder:
    """Upstream Anthropic SSE events -> canonical chunks, for one response."""

    __slots__ = ("_blocks", "_delta_seen", "_ended", "_started", "_stop", "_stop_seq", "_usage")

    def __init__(self) -> None:
        self._started = False
        self._ended = False
        self._delta_seen = False
        self._blocks: dict[int, int] = {}  # Anthropic block index -> canonical tool index
        self._usage: dict[str, Any] = {}  # raw Anthropic usage, later events override
        self._stop: StopReason = "stop"
        self._stop_seq: str | None = None

    def feed(self, event: SSEEvent) -> list[Chunk]:
        if self._ended:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("Anthropic stream sent an event that is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamProtocolError("Anthropic stream sent an event that is not an object")
        kind = data.get("type", event.event)
        if kind == "ping":
            return []
        if kind == "error":
            raise stream_error(data)
        if kind == "message_start":
            return self._message_start(data)
        if not self._started:
            raise UpstreamProtocolError(f"Anthropic stream sent {kind!r} before message_start")
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            self._message_delta(data)
        elif kind == "message_stop":
            return [self._finish()]
        return []  # content_block_stop, and event types added after this was written

    def close(self) -> list[Chunk]:
        if self._ended:
            return []
        if self._delta_seen:
            return [self._finish()]  # only message_stop was lost; the answer is complete
        raise UpstreamProtocolError("upstream stream ended before the response finished")

    def _message_start(self, data: dict[str, Any]) -> list[Chunk]:
        if self._started:
            return []
        self._started = True
        msg = data.get("message")
        if not isinstance(msg, dict):
            raise UpstreamProtocolError("Anthropic message_start carries no message")
        raw_usage = msg.get("usage")
        if isinstance(raw_usage, dict):
            self._usage.update(raw_usage)
        msg_id, model = msg.get("id"), msg.get("model")
        return [
            StreamStart(
                id=msg_id if isinstance(msg_id, str) else "",
                model=model if isinstance(model, str) else "",
                usage=usage_from_anthropic(raw_usage),
            )
        ]

    def _block_start(self, data: dict[str, Any]) -> list[Chunk]:
        block, index = data.get("content_block"), data.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            raise UpstreamProtocolError("malformed Anthropic content_block_start")
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            return [TextDelta(text)] if isinstance(text, str) and text else []
        if kind == "redacted_thinking":
            opaque = block.get("data")
            return [ThinkingDelta(redacted=opaque if isinstance(opaque, str) else "")]
        if kind == "thinking":
            text = block.get("thinking")
            return [ThinkingDelta(text)] if isinstance(text, str) and text else []
        if kind != "tool_use":
            return []  # server-tool blocks have no canonical form
        call_id, name = block.get("id"), block.get("name")
        if not isinstance(call_id, str) or not isinstance(name, str):
            raise UpstreamProtocolError("Anthropic tool_use block lacks an id or name")
        tool_index = len(self._blocks)
        self._blocks[index] = tool_index
        out: list[Chunk] = [ToolCallStart(index=tool_index, id=call_id, name=name)]
        args = block.get("input")
        if isinstance(args, dict) and args:  # normally {} with the input streamed as deltas
            out.append(ToolCallDelta(tool_index, orjson.dumps(args).decode()))
        return out

    def _block_delta(self, data: dict[str, Any]) -> list[Chunk]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            raise UpstreamProtocolError("malformed Anthropic content_block_delta")
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [TextDelta(text)] if isinstance(text, str) and text else []
        if kind == "thinking_delta":
            text = delta.get("thinking")
            return [ThinkingDelta(text)] if isinstance(text, str) and text else []
        if kind == "signature_delta":
            signature = delta.get("signature")
            return [ThinkingDelta(signature=signature if isinstance(signature, str) else "")]
        if kind == "input_json_delta":
            index = data.get("index")
            tool_index = self._blocks.get(index) if isinstance(index, int) else None
            fragment = delta.get("partial_json")
            if tool_index is not None and isinstance(fragment, str) and fragment:
                return [ToolCallDelta(tool_index, fragment)]
        return []  # citation deltas are not carried

    def _message_delta(self, data: dict[str, Any]) -> None:
        self._delta_seen = True
        delta = data.get("delta")
        if isinstance(delta, dict):
            self._stop = stop_from_anthropic(delta.get("stop_reason"))
            seq = delta.get("stop_sequence")
            self._stop_seq = seq if isinstance(seq, str) else None
        usage = data.get("usage")
        if isinstance(usage, dict):
            # Counts here are cumulative; absent or null ones keep message_start's values.
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _finish(self) -> StreamEnd:
        self._ended = True
        usage: Usage | None = usage_from_anthropic(self._usage) if self._usage else None
        return StreamEnd(stop_reason=self._stop, stop_sequence=self._stop_seq, usage=usage)


def stream_error(data: dict[str, Any]) -> UpstreamStatusError:
    err = data.get("error")
    err = err if isinstance(err, dict) else {}
    kind, message = err.get("type"), err.get("message")
    kind = kind if isinstance(kind, str) else None
    return UpstreamStatusError(
        503 if kind == "overloaded_error" else 502,
        message if isinstance(message, str) and message else "Anthropic stream failed",
        provider="anthropic",
        upstream_type=kind,
    )
