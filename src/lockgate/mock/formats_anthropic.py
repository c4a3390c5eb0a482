"""Anthropic Messages wire format for the mock: /v1/messages (plain and SSE) and count_tokens.

Independent of ``lockgate.wire.anthropic`` on purpose (see formats_openai).
"""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.mock.base import (
    BadRequest,
    Headers,
    MockUsage,
    Query,
    StreamPlan,
    require_list,
    text_of,
)
from lockgate.mock.engine import (
    MOCK_WINDOW,
    ChatCall,
    MockReply,
    count_tokens,
    signature_for,
    thinking_for,
)

SSE = b"text/event-stream"
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'


def anthropic_auth(headers: Headers, query: Query) -> tuple[int, str] | None:
    # Anthropic takes the key as x-api-key or as a bearer token; recent SDKs send the latter.
    bearer = headers.get(b"authorization", b"")
    if not headers.get(b"x-api-key", b"").strip() and not (
        bearer.startswith(b"Bearer ") and bearer[7:].strip()
    ):
        return 401, "x-api-key header is required"
    if not headers.get(b"anthropic-version", b"").strip():
        return 400, "anthropic-version: header is required"
    return None


def _event(name: bytes, obj: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def _block_text(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_result":
        return text_of(block.get("content"))
    if kind == "tool_use":
        return f"{block.get('name', '')} {orjson.dumps(block.get('input')).decode()}"
    return ""


def _usage(usage: MockUsage) -> dict[str, Any]:
    # Anthropic's input_tokens are the uncached ones.
    return {
        "input_tokens": usage.input_tokens - usage.cached - usage.cache_write,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cached,
    }


def _thinking_enabled(data: dict[str, Any]) -> bool:
    thinking = data.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _check_thinking(data: dict[str, Any]) -> None:
    """As Anthropic does with thinking on: the last assistant turn, when it called a tool,
    must start with the thinking block the model wrote, signature intact."""
    messages = require_list(data, "messages")
    last = [
        i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"
    ]
    for i in last[-1:]:
        m = messages[i]
        content = m.get("content")
        if not isinstance(content, list) or not content:
            continue
        if not any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content):
            continue
        first = content[0] if isinstance(content[0], dict) else {}
        if first.get("type") == "redacted_thinking":
            continue
        if first.get("type") != "thinking":
            raise BadRequest(
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                "but found a different block. When `thinking` is enabled, a final assistant "
                "message must start with a thinking block."
            )
        if first.get("signature") != signature_for(str(first.get("thinking", ""))):
            raise BadRequest(f"messages.{i}.content.0: Invalid `signature` in `thinking` block")


def _cache_prefix(data: dict[str, Any]) -> str | None:
    """The prompt text up to its last block with ``cache_control`` (tools, system, messages in
    Anthropic's caching order), or None when there is no breakpoint."""
    seen: list[str] = []
    prefix: str | None = None
    blocks: list[Any] = list(data.get("tools") or ())
    system = data.get("system")
    blocks.extend(system if isinstance(system, list) else [{"type": "text", "text": system}])
    for m in data.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        blocks.extend(content if isinstance(content, list) else [{"type": "text", "text": content}])
    for block in blocks:
        if not isinstance(block, dict):
            continue
        seen.append(orjson.dumps(block).decode() if "name" in block else _block_text(block))
        if block.get("cache_control") is not None:
            prefix = "\n".join(seen)
    return prefix


def _prompt_texts(data: dict[str, Any]) -> tuple[list[str], str, str, str]:
    """(all texts, last user-written text, last role, text of the last turn's tool results)."""
    texts = [text_of(data.get("system"))]
    user_text = ""
    last_role = "user"
    results = ""
    for m in require_list(data, "messages"):
        if not isinstance(m, dict):
            raise BadRequest("messages: each message must be an object")
        content = m.get("content")
        raw = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        blocks = [b for b in raw if isinstance(b, dict)]
        written = "".join(_block_text(b) for b in blocks if b.get("type") == "text")
        results = "".join(_block_text(b) for b in blocks if b.get("type") == "tool_result")
        texts.extend(_block_text(b) for b in blocks)
        if m.get("role") == "user":
            has_result = any(b.get("type") == "tool_result" for b in blocks)
            last_role = "tool" if has_result else "user"
            if written:
                user_text = written
        else:
            last_role = "assistant"
    return texts, user_text, last_role, results


class AnthropicFormat:
    def error(self, status: int, message: str) -> bytes:
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})

    def overflow(self, tokens: int) -> bytes:
        message = f"prompt is too long: {tokens} tokens > {MOCK_WINDOW} maximum"
        return self.error(400, message)

    def parse_chat(self, data: dict[str, Any], model: str | None, stream: bool | None) -> ChatCall:
        max_tokens = data.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise BadRequest("max_tokens: Field required (a positive integer)")
        texts, user_text, last_role, results = _prompt_texts(data)
        thinking = _thinking_enabled(data)
        if thinking:
            _check_thinking(data)
        tools = [t["name"] for t in data.get("tools") or () if isinstance(t, dict) and "name" in t]
        choice = data.get("tool_choice") or {}
        if choice.get("type") == "tool":
            tools = [str(choice.get("name", ""))]
        return ChatCall(
            model=str(data.get("model") or ""),
            prompt_text=results if last_role == "tool" else user_text,
            user_text=user_text,
            all_text="\n".join(texts),
            last_role=last_role,
            tools=tools,
            tool_choice_none=choice.get("type") == "none",
            max_tokens=max_tokens,
            stream=bool(data.get("stream")),
            thinking=thinking,
            cache_prefix=_cache_prefix(data),
        )

    def _content(self, call: ChatCall, reply: MockReply, rid: str) -> list[dict[str, Any]]:
        thinking: list[dict[str, Any]] = []
        if call.thinking:
            text = thinking_for(call.prompt_text)
            thinking = [{"type": "thinking", "thinking": text, "signature": signature_for(text)}]
        if reply.tool_call:
            tc = reply.tool_call
            return [
                *thinking,
                {
                    "type": "tool_use",
                    "id": f"toolu_{rid}",
                    "name": tc.name,
                    "input": orjson.loads(tc.arguments),
                },
            ]
        return thinking + ([{"type": "text", "text": reply.text}] if reply.pieces else [])

    def render(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> bytes:
        body = _message(call, rid, self._content(call, reply, rid), _STOP[reply.stop])
        if usage is not None:
            body["usage"] = _usage(usage)
        return orjson.dumps(body)

    def render_stream(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> StreamPlan:
        message = _message(call, rid, [], None)
        if usage is not None:
            opening = MockUsage(usage.input_tokens, 1, usage.cached, usage.cache_write)
            message["usage"] = _usage(opening)
        head = [_event(b"message_start", {"type": "message_start", "message": message}), _PING]
        index = 0
        if call.thinking:
            head.extend(_thinking_events(thinking_for(call.prompt_text)))
            index = 1
        if reply.tool_call:
            tc = reply.tool_call
            block = {"type": "tool_use", "id": f"toolu_{rid}", "name": tc.name, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in tc.fragments]
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in reply.pieces]
        start = {"type": "content_block_start", "index": index, "content_block": block}
        head.append(_event(b"content_block_start", start))
        tokens = [
            _event(
                b"content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}
            )
            for d in deltas
        ]
        end: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP[reply.stop], "stop_sequence": None},
        }
        if usage is not None:
            end["usage"] = {"output_tokens": usage.output_tokens}
        stop = _BLOCK_STOP if index == 0 else _block_stop(index)
        tail = [stop, _event(b"message_delta", end), _MESSAGE_STOP]
        return StreamPlan(SSE, head, tokens, tail)


def _block_stop(index: int) -> bytes:
    return _event(b"content_block_stop", {"type": "content_block_stop", "index": index})


def _thinking_events(text: str) -> list[bytes]:
    """A thinking block at index 0: its text, then its signature, as Anthropic streams them."""
    block = {"type": "thinking", "thinking": "", "signature": ""}
    deltas = [
        {"type": "thinking_delta", "thinking": text},
        {"type": "signature_delta", "signature": signature_for(text)},
    ]
    return [
        _event(
            b"content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        ),
        *(
            _event(b"content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
            for d in deltas
        ),
        _block_stop(0),
    ]


def count(data: dict[str, Any], model: str | None, nousage: bool) -> bytes:
    texts, _, _, _ = _prompt_texts(data)
    return orjson.dumps({"input_tokens": count_tokens("\n".join(texts))})


def _message(
    call: ChatCall, rid: str, content: list[dict[str, Any]], stop_reason: str | None
) -> dict[str, Any]:
    """A Messages API ``message`` object, whole or as ``message_start`` carries it."""
    return {
        "id": f"msg_{rid}",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }
