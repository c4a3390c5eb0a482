"""OpenAI chat-completion streams: canonical chunks to client SSE, and upstream SSE to chunks."""

from __future__ import annotations

import time
from typing import Any

import orjson

from lockgate.errors import UpstreamProtocolError, UpstreamStatusError
from lockgate.wire.openai_response import (
    stop_from_openai,
    stop_to_openai,
    usage_from_openai,
    usage_to_openai,
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

_DONE = b"data: [DONE]\n\n"


class ChatStreamEncoder:
    """Canonical chunks to ``chat.completion.chunk`` events, as the official SDKs parse them.

    Every chunk shares one JSON head (id, created, model) and tail, pre-serialised at the start
    so a text delta costs one small ``orjson.dumps``.
    """

    __slots__ = ("_head", "_include_usage", "_model", "_reasoning", "_tail", "_usage_tail")

    def __init__(self, *, model: str, include_usage: bool, reasoning: bool = False) -> None:
        self._model = model
        self._reasoning = reasoning
        self._include_usage = include_usage
        # OpenAI sends "usage": null on every chunk when the client asked for usage.
        self._usage_tail = b',"usage":null}' if include_usage else b"}"
        self._tail = b',"logprobs":null,"finish_reason":null}]' + self._usage_tail
        self._head = self._make_head("", 0)

    def _make_head(self, chunk_id: str, created: int) -> bytes:
        return (
            b'{"id":'
            + orjson.dumps(chunk_id)
            + b',"object":"chat.completion.chunk","created":'
            + str(int(created)).encode()
            + b',"model":'
            + orjson.dumps(self._model)
        )

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return encode_event(
            self._head + b',"choices":[{"index":0,"delta":' + orjson.dumps(delta) + self._tail
        )

    def encode(self, chunk: Chunk) -> bytes:
        if isinstance(chunk, TextDelta):
            return self._delta({"content": chunk.text}) if chunk.text else b""
        if isinstance(chunk, ThinkingDelta):
            # Reasoning never goes into content; a client that opted in gets it apart.
            if self._reasoning and chunk.text:
                return self._delta({"reasoning_content": chunk.text})
            return b""
        if isinstance(chunk, ToolCallDelta):
            if not chunk.arguments:
                return b""
            call = {"index": chunk.index, "function": {"arguments": chunk.arguments}}
            return self._delta({"tool_calls": [call]})
        if isinstance(chunk, ToolCallStart):
            call = {
                "index": chunk.index,
                "id": chunk.id,
                "type": "function",
                "function": {"name": chunk.name, "arguments": ""},
            }
            return self._delta({"tool_calls": [call]})
        if isinstance(chunk, StreamStart):
            # Providers without a timestamp (Anthropic) give 0; the SDKs expect a real one.
            self._head = self._make_head(chunk.id, chunk.created or int(time.time()))
            return self._delta({"role": "assistant", "content": ""})
        return self._end(chunk)

    def _end(self, end: StreamEnd) -> bytes:
        finish = orjson.dumps(stop_to_openai(end.stop_reason))
        out = encode_event(
            self._head
            + b',"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":'
            + finish
            + b"}]"
            + self._usage_tail
        )
        # Without usage there is nothing true to report; the chunk is left out, not zeroed.
        if self._include_usage and end.usage is not None:
            usage = orjson.dumps(usage_to_openai(end.usage))
            out += encode_event(self._head + b',"choices":[],"usage":' + usage + b"}")
        return out

    def close(self) -> bytes:
        return _DONE


class ChatStreamDecoder:
    """Upstream ``chat.completion.chunk`` events to canonical chunks.

    ``StreamEnd`` is held back after the finish reason until usage arrives (OpenAI sends it in
    a separate chunk with ``choices: []``), ``[DONE]`` is seen or ``close()`` is called, so it
    is emitted exactly once and carries both.
    """

    __slots__ = ("_ended", "_started", "_stop", "_tools", "_usage")

    def __init__(self) -> None:
        self._started = False
        self._ended = False
        self._stop: StopReason | None = None
        self._usage: Usage | None = None
        self._tools: set[int] = set()  # indexes of tool calls already started

    def feed(self, event: SSEEvent) -> list[Chunk]:
        data = event.data
        if data == "[DONE]":
            if self._ended:
                return []
            if self._stop is None:
                # The server finished cleanly without a finish reason (seen on some
                # compatible servers): infer it rather than fail a complete answer.
                self._stop = "tool_calls" if self._tools else "stop"
            return self._finish()
        if self._ended:
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("upstream sent a stream event that is not JSON") from None
        if not isinstance(obj, dict):
            raise UpstreamProtocolError("upstream sent a stream event that is not a JSON object")
        if obj.get("error") is not None or event.event == "error":
            raise stream_error(obj)
        return self._chunk(obj)

    def _chunk(self, obj: dict[str, Any]) -> list[Chunk]:
        out: list[Chunk] = []
        choices = obj.get("choices")
        usage = usage_from_openai(obj.get("usage"))
        if not self._started:
            # Azure opens with a prompt-filter chunk that has no id, model or choices.
            if not choices and usage is None:
                return out
            self._started = True
            created = obj.get("created")
            out.append(
                StreamStart(
                    id=str(obj.get("id") or ""),
                    model=str(obj.get("model") or ""),
                    created=created if isinstance(created, int) else 0,
                )
            )
        if isinstance(choices, list) and choices:
            self._choice(choices[0], out)
        if usage is not None:
            self._usage = usage
        if self._stop is not None and self._usage is not None:
            out.extend(self._finish())
        return out

    def _choice(self, choice: object, out: list[Chunk]) -> None:
        # Only the first choice is followed: a canonical stream carries one.
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            return
        delta = choice.get("delta")
        if isinstance(delta, dict):
            thought = delta.get("reasoning_content")
            if isinstance(thought, str) and thought:
                out.append(ThinkingDelta(thought))
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                out.append(TextDelta(text))
            calls = delta.get("tool_calls")
            if isinstance(calls, list):
                for k, call in enumerate(calls):
                    self._tool_call(call, k, out)
        reason = choice.get("finish_reason")
        if reason is not None:
            self._stop = stop_from_openai(reason)

    def _tool_call(self, call: object, position: int, out: list[Chunk]) -> None:
        if not isinstance(call, dict):
            raise UpstreamProtocolError("upstream sent a malformed tool call delta")
        index = call.get("index")
        if not isinstance(index, int):
            index = position  # a few compatible servers omit the index
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        if index not in self._tools:
            self._tools.add(index)
            call_id = call.get("id")
            name = fn.get("name")
            out.append(
                ToolCallStart(
                    index=index,
                    id=call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                    name=name if isinstance(name, str) else "",
                )
            )
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            out.append(ToolCallDelta(index=index, arguments=args))
        elif isinstance(args, dict):  # some servers send whole arguments as an object
            out.append(ToolCallDelta(index=index, arguments=orjson.dumps(args).decode()))

    def _finish(self) -> list[Chunk]:
        self._ended = True
        return [StreamEnd(stop_reason=self._stop or "stop", usage=self._usage)]

    def close(self) -> list[Chunk]:
        if self._ended:
            return []
        if self._stop is None:
            raise UpstreamProtocolError("upstream stream ended before the response finished")
        return self._finish()


def stream_error(obj: dict[str, Any]) -> UpstreamStatusError:
    err = obj.get("error", obj)
    message, kind = "upstream reported an error mid-stream", None
    if isinstance(err, dict):
        msg, code, typ = err.get("message"), err.get("code"), err.get("type")
        if isinstance(msg, str) and msg:
            message = msg
        kind = code if isinstance(code, str) and code else typ if isinstance(typ, str) else None
    elif isinstance(err, str) and err:
        message = err
    return UpstreamStatusError(502, message, provider="openai", upstream_type=kind)
