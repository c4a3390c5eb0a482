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
from lockgate.mock.engine import MOCK_WINDOW, ChatCall, MockReply, count_tokens

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
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


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
        )

    def _content(self, reply: MockReply, rid: str) -> list[dict[str, Any]]:
        if reply.tool_call:
            tc = reply.tool_call
            return [
                {
                    "type": "tool_use",
                    "id": f"toolu_{rid}",
                    "name": tc.name,
                    "input": orjson.loads(tc.arguments),
                }
            ]
        return [{"type": "text", "text": reply.text}] if reply.pieces else []

    def render(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> bytes:
        body = _message(call, rid, self._content(reply, rid), _STOP[reply.stop])
        if usage is not None:
            body["usage"] = _usage(usage)
        return orjson.dumps(body)

    def render_stream(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> StreamPlan:
        message = _message(call, rid, [], None)
        if usage is not None:
            message["usage"] = _usage(MockUsage(usage.input_tokens, 1))
        head = [_event(b"message_start", {"type": "message_start", "message": message}), _PING]
        if reply.tool_call:
            tc = reply.tool_call
            block = {"type": "tool_use", "id": f"toolu_{rid}", "name": tc.name, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in tc.fragments]
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in reply.pieces]
        start = {"type": "content_block_start", "index": 0, "content_block": block}
        head.append(_event(b"content_block_start", start))
        tokens = [
            _event(b"content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
            for d in deltas
        ]
        end: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP[reply.stop], "stop_sequence": None},
        }
        if usage is not None:
            end["usage"] = {"output_tokens": usage.output_tokens}
        tail = [_BLOCK_STOP, _event(b"message_delta", end), _MESSAGE_STOP]
        return StreamPlan(SSE, head, tokens, tail)


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
