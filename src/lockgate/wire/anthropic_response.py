"""Anthropic Messages: responses, usage, stop reasons, token counts and error bodies.

Part of the Anthropic codec; import the public names from ``lockgate.wire.anthropic``.
"""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.errors import UpstreamProtocolError
from lockgate.wire.types import (
    ChatResponse,
    Part,
    StopReason,
    TextPart,
    ThinkingPart,
    ToolCall,
    Usage,
)

# Anthropic -> canonical. pause_turn (a server tool paused a long turn) has no canonical
# equivalent; the turn did end, so it is a natural stop.
_STOP_FROM_ANTHROPIC: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_STOP_TO_ANTHROPIC: dict[str, str] = {
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    # "error" has no Anthropic name; the message did end, and SDKs reject unknown values.
    "error": "end_turn",
}

_ERROR_TEXT_LIMIT = 500


def stop_from_anthropic(reason: object) -> StopReason:
    if isinstance(reason, str):
        return _STOP_FROM_ANTHROPIC.get(reason, "stop")
    return "stop"


def stop_to_anthropic(reason: StopReason, stop_sequence: str | None) -> str:
    if reason == "stop":
        return "stop_sequence" if stop_sequence is not None else "end_turn"
    return _STOP_TO_ANTHROPIC[reason]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_anthropic(raw: object) -> Usage | None:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; canonical includes both."""
    if not isinstance(raw, dict):
        return None
    read = _int(raw.get("cache_read_input_tokens"))
    write = _int(raw.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=_int(raw.get("input_tokens")) + read + write,
        output_tokens=_int(raw.get("output_tokens")),
        cached_input_tokens=read,
        cache_creation_input_tokens=write,
    )


def usage_to_anthropic(usage: Usage | None) -> dict[str, int]:
    u = usage or Usage()
    uncached = u.input_tokens - u.cached_input_tokens - u.cache_creation_input_tokens
    return {
        "input_tokens": max(uncached, 0),
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
    }


def tool_input(arguments: str) -> dict[str, Any] | None:
    """A tool call's JSON arguments as the object Anthropic wants; None if they are not one."""
    if not arguments.strip():
        return {}  # models emit "" for calls without arguments
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# --- Ingress side: canonical response -> client ------------------------------------------------


def thinking_block(part: ThinkingPart) -> dict[str, Any]:
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}


def encode_chat_response(resp: ChatResponse, *, model: str) -> bytes:
    content: list[dict[str, Any]] = [thinking_block(t) for t in resp.thinking]
    content.extend(
        {"type": "text", "text": p.text} for p in resp.content if isinstance(p, TextPart)
    )
    for call in resp.tool_calls:
        args = tool_input(call.arguments)
        if args is None:
            # The client's SDK would fail to parse it; let routing retry or fall back instead.
            raise UpstreamProtocolError(
                f"the model returned arguments for tool {call.name!r} that are not a JSON object"
            )
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": args})
    return orjson.dumps(
        {
            "id": resp.id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_to_anthropic(resp.stop_reason, resp.stop_sequence),
            "stop_sequence": resp.stop_sequence,
            "usage": usage_to_anthropic(resp.usage),
        }
    )


def encode_count_tokens_response(input_tokens: int) -> bytes:
    return orjson.dumps({"input_tokens": input_tokens})


# --- Provider side: Anthropic response -> canonical --------------------------------------------


def _protocol_error(what: str) -> UpstreamProtocolError:
    return UpstreamProtocolError(f"malformed Anthropic response: {what}")


def decode_chat_response(body: object) -> ChatResponse:
    if not isinstance(body, dict):
        raise _protocol_error("the body is not a JSON object")
    blocks = body.get("content")
    if not isinstance(blocks, list):
        raise _protocol_error("'content' is not a list")
    content: list[Part] = []
    calls: list[ToolCall] = []
    thinking: list[ThinkingPart] = []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise _protocol_error(f"content.{i} is not an object")
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise _protocol_error(f"content.{i}.text is not a string")
            content.append(TextPart(text))
        elif kind == "tool_use":
            calls.append(_decode_tool_use(block, i))
        elif kind == "thinking":
            signature = block.get("signature")
            thinking.append(
                ThinkingPart(
                    text=_str(block.get("thinking")),
                    signature=signature if isinstance(signature, str) else None,
                )
            )
        elif kind == "redacted_thinking":
            thinking.append(ThinkingPart(redacted=_str(block.get("data"))))
        # Server-tool blocks have no canonical form; skipping them keeps the answer usable
        # instead of failing the whole call.
    stop_sequence = body.get("stop_sequence")
    return ChatResponse(
        id=_str(body.get("id")),
        model=_str(body.get("model")),
        content=content,
        tool_calls=calls,
        stop_reason=stop_from_anthropic(body.get("stop_reason")),
        stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
        usage=usage_from_anthropic(body.get("usage")),
        thinking=thinking,
    )


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _decode_tool_use(block: dict[str, Any], i: int) -> ToolCall:
    call_id, name, args = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise _protocol_error(f"content.{i} tool_use lacks a string id or name")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise _protocol_error(f"content.{i}.input is not an object")
    return ToolCall(id=call_id, name=name, arguments=orjson.dumps(args).decode())


def decode_count_tokens_response(body: object) -> int:
    n = body.get("input_tokens") if isinstance(body, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise UpstreamProtocolError(
            "malformed Anthropic count_tokens response: 'input_tokens' is not a count"
        )
    return n


def decode_error(status: int, body: bytes) -> tuple[str, str | None, str | None]:
    """(message, error type, param) from an Anthropic error body; any body is accepted.

    Anthropic errors carry no ``param``; it is always None.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    err = data.get("error") if isinstance(data, dict) else None
    kind: str | None = None
    if isinstance(err, dict):
        raw_kind, message = err.get("type"), err.get("message")
        kind = raw_kind if isinstance(raw_kind, str) else None
        if isinstance(message, str) and message:
            return message, kind, None
    text = body.decode("utf-8", "replace").strip()[:_ERROR_TEXT_LIMIT]
    return text or f"Anthropic returned HTTP {status}", kind, None
