"""Gemini response decoding: the helpers shared with :mod:`lockgate.wire.gemini` and the
streaming decoder for ``:streamGenerateContent?alt=sse``.

With ``alt=sse`` every event's data is one whole ``GenerateContentResponse``: text arrives in
pieces, function calls arrive whole, ``usageMetadata`` is cumulative and may be repeated on
every chunk, and ``finishReason`` appears on the candidate of the last content chunk (usage
may follow on the same or a later chunk). So the decoder remembers the finish and emits
``StreamEnd`` only at :meth:`ChatStreamDecoder.close`.

Only the candidate with ``index`` 0 is decoded; other candidates (``candidateCount`` > 1)
are ignored, as in the non-streaming decoder.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from lockgate.errors import UpstreamProtocolError, UpstreamStatusError
from lockgate.wire.sse import SSEEvent
from lockgate.wire.types import (
    Chunk,
    StopReason,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

__all__ = ["ChatStreamDecoder"]

PROVIDER = "gemini"

_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)


def new_response_id() -> str:
    return "gemini-" + secrets.token_hex(12)


def stop_reason(finish: object, has_calls: bool) -> StopReason:
    """Map a Gemini ``finishReason``; unknown and unspecified reasons are errors."""
    if finish == "STOP":
        return "tool_calls" if has_calls else "stop"
    if finish == "MAX_TOKENS":
        return "length"
    if finish in _FILTERED:
        return "content_filter"
    return "error"


def _count(meta: dict[str, Any], key: str) -> int:
    # Proto3 JSON omits zero counts, so absence means 0.
    v = meta.get(key)
    return v if isinstance(v, int) else 0


def decode_usage(meta: object) -> Usage | None:
    """Thinking tokens are billed as output, so they count towards ``output_tokens``."""
    if not isinstance(meta, dict):
        return None
    return Usage(
        input_tokens=_count(meta, "promptTokenCount"),
        output_tokens=_count(meta, "candidatesTokenCount") + _count(meta, "thoughtsTokenCount"),
        cached_input_tokens=_count(meta, "cachedContentTokenCount"),
        reasoning_tokens=_count(meta, "thoughtsTokenCount"),
    )


def first_candidate(candidates: object) -> dict[str, Any] | None:
    """The candidate with index 0 (a missing ``index`` is 0), or None."""
    if candidates is None:
        return None
    if not isinstance(candidates, list):
        raise UpstreamProtocolError("Gemini response: 'candidates' is not a list")
    for cand in candidates:
        if not isinstance(cand, dict):
            raise UpstreamProtocolError("Gemini response: a candidate is not an object")
        if cand.get("index", 0) == 0:
            return cand
    return None


def candidate_parts(cand: dict[str, Any]) -> list[dict[str, Any]]:
    content = cand.get("content")
    if content is None:
        return []  # a candidate blocked before producing anything has no content
    if not isinstance(content, dict):
        raise UpstreamProtocolError("Gemini response: candidate 'content' is not an object")
    parts = content.get("parts")
    if parts is None:
        return []
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise UpstreamProtocolError("Gemini response: 'content.parts' is not a list of objects")
    return parts


def decode_parts(parts: list[dict[str, Any]], first_index: int) -> tuple[list[str], list[ToolCall]]:
    """Texts (thoughts skipped) and function calls; call ids default to ``call_<index>``."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts:
        fc = part.get("functionCall")
        if fc is not None:
            calls.append(_tool_call(fc, first_index + len(calls)))
            continue
        if part.get("thought") is True:
            continue
        text = part.get("text")
        if isinstance(text, str) and text:
            texts.append(text)
    return texts, calls


def _tool_call(fc: object, index: int) -> ToolCall:
    if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
        raise UpstreamProtocolError("Gemini response: a functionCall part has no name")
    args = fc.get("args")
    if args is None:
        args = {}
    elif not isinstance(args, dict):
        raise UpstreamProtocolError("Gemini response: functionCall 'args' is not an object")
    call_id = fc.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = f"call_{index}"
    return ToolCall(id=call_id, name=fc["name"], arguments=orjson.dumps(args).decode())


def raise_error_object(err: object) -> None:
    """Raise for a ``{"error": {...}}`` payload delivered where a response was expected."""
    if not isinstance(err, dict):
        raise UpstreamProtocolError("Gemini sent an error without details")
    code = err.get("code")
    status = err.get("status")
    message = err.get("message")
    raise UpstreamStatusError(
        code if isinstance(code, int) and code >= 400 else 502,
        message if isinstance(message, str) and message else "Gemini reported an error",
        provider=PROVIDER,
        upstream_type=status if isinstance(status, str) else None,
    )


class ChatStreamDecoder:
    """Turns upstream SSE events (one ``GenerateContentResponse`` each) into canonical chunks."""

    __slots__ = ("_calls", "_ended", "_finish", "_model", "_started", "_usage")

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._started = False
        self._ended = False
        self._calls = 0  # tool calls emitted so far; also the next call's index
        self._finish: StopReason | None = None
        self._usage: Usage | None = None

    def feed(self, event: SSEEvent) -> list[Chunk]:
        data = event.data.strip()
        if not data:
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("Gemini stream: an event is not valid JSON") from None
        if not isinstance(obj, dict):
            raise UpstreamProtocolError("Gemini stream: an event is not a JSON object")
        if "error" in obj:
            raise_error_object(obj["error"])
        out: list[Chunk] = []
        if not self._started:
            self._started = True
            out.append(self._start(obj))
        usage = decode_usage(obj.get("usageMetadata"))
        if usage is not None:
            self._usage = usage  # cumulative: the latest report wins
        cand = first_candidate(obj.get("candidates"))
        if cand is not None:
            self._content(cand, out)
        elif not obj.get("candidates") and _blocked(obj):
            self._finish = "content_filter"
        return out

    def close(self) -> list[Chunk]:
        if self._ended:
            return []
        if self._finish is None:
            raise UpstreamProtocolError("upstream stream ended before the response finished")
        self._ended = True
        return [StreamEnd(stop_reason=self._finish, usage=self._usage)]

    def _start(self, obj: dict[str, Any]) -> StreamStart:
        rid = obj.get("responseId")
        version = obj.get("modelVersion")
        return StreamStart(
            id=rid if isinstance(rid, str) and rid else new_response_id(),
            model=version if isinstance(version, str) and version else self._model,
        )

    def _content(self, cand: dict[str, Any], out: list[Chunk]) -> None:
        texts, calls = decode_parts(candidate_parts(cand), self._calls)
        if texts:
            out.append(TextDelta("".join(texts)))
        for call in calls:
            out.append(ToolCallStart(index=self._calls, id=call.id, name=call.name))
            out.append(ToolCallDelta(index=self._calls, arguments=call.arguments))
            self._calls += 1
        finish = cand.get("finishReason")
        if finish is not None:
            self._finish = stop_reason(finish, self._calls > 0)


def _blocked(obj: dict[str, Any]) -> bool:
    feedback = obj.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))
