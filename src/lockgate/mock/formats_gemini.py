"""Gemini (Generative Language API, v1beta) wire format for the mock.

generateContent, streamGenerateContent (SSE with ``alt=sse``, else a streamed JSON array),
countTokens, embedContent and batchEmbedContents. Independent of ``lockgate.wire.gemini``.
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
    optional_int,
    require_list,
)
from lockgate.mock.engine import MOCK_WINDOW, ChatCall, MockReply, count_tokens, embed

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
DEFAULT_EMBED_DIMS = 768


def gemini_auth(headers: Headers, query: Query) -> tuple[int, str] | None:
    if headers.get(b"x-goog-api-key", b"").strip() or any(query.get("key", ())):
        return None
    return 403, "Method doesn't allow unregistered callers. Please use an API key."


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    if "text" in part:
        return str(part["text"])
    call = part.get("functionCall")
    if isinstance(call, dict):
        return f"{call.get('name', '')} {orjson.dumps(call.get('args')).decode()}"
    result = part.get("functionResponse")
    if isinstance(result, dict):
        response = result.get("response")
        # A plain-text result travels as {"content": text} (or {"error": text}); read it as
        # the text a model would see, like the other formats' tool results.
        if isinstance(response, dict) and len(response) == 1:
            (only,) = response.values()
            if isinstance(only, str):
                return only
        return orjson.dumps(response).decode()
    return ""


def _contents_texts(data: dict[str, Any]) -> tuple[list[str], str, str, str]:
    """(all texts, last user-written text, last role, text of the last turn)."""
    system = data.get("systemInstruction") or data.get("system_instruction") or {}
    texts = ["".join(_part_text(p) for p in system.get("parts") or ())]
    user_text = ""
    last_role = "user"
    last = ""
    for content in require_list(data, "contents"):
        if not isinstance(content, dict):
            raise BadRequest("contents: each content must be an object")
        parts = content.get("parts") or []
        last = "".join(_part_text(p) for p in parts)
        texts.append(last)
        if content.get("role", "user") == "model":
            last_role = "assistant"
        elif any(isinstance(p, dict) and "functionResponse" in p for p in parts):
            last_role = "tool"
        else:
            last_role = "user"
            user_text = last
    return texts, user_text, last_role, last


def _tools(data: dict[str, Any]) -> tuple[list[str], bool]:
    names = [
        str(f.get("name", ""))
        for t in data.get("tools") or ()
        if isinstance(t, dict)
        for f in t.get("functionDeclarations") or t.get("function_declarations") or ()
        if isinstance(f, dict)
    ]
    config = (data.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = config.get("mode", "AUTO")
    allowed = config.get("allowedFunctionNames")
    if mode == "ANY" and allowed:
        names = [str(allowed[0])]
    return names, mode == "NONE"


class GeminiFormat:
    """``sse`` selects the stream framing: SSE (``alt=sse``) or one streamed JSON array."""

    def __init__(self, *, sse: bool) -> None:
        self.sse = sse

    def error(self, status: int, message: str) -> bytes:
        name = _STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        return orjson.dumps({"error": {"code": status, "message": message, "status": name}})

    def overflow(self, tokens: int) -> bytes:
        message = (
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({MOCK_WINDOW})."
        )
        return self.error(400, message)

    def parse_chat(self, data: dict[str, Any], model: str | None, stream: bool | None) -> ChatCall:
        texts, user_text, last_role, last = _contents_texts(data)
        tools, none = _tools(data)
        config = data.get("generationConfig") or {}
        return ChatCall(
            model=model or "",
            prompt_text=last if last_role == "tool" else user_text,
            user_text=user_text,
            all_text="\n".join(texts),
            last_role=last_role,
            tools=tools,
            tool_choice_none=none,
            max_tokens=optional_int(config, "maxOutputTokens"),
            stream=bool(stream),
            thinking=_thinks(config),
        )

    def _response(
        self, call: ChatCall, parts: list[dict[str, Any]], rid: str, finish: str | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "modelVersion": call.model, "responseId": rid}

    def _parts(self, reply: MockReply) -> list[dict[str, Any]]:
        if reply.tool_call:
            args = orjson.loads(reply.tool_call.arguments)
            return [{"functionCall": {"name": reply.tool_call.name, "args": args}}]
        return [{"text": reply.text}]

    def render(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> bytes:
        body = self._response(call, self._parts(reply), rid, _FINISH[reply.stop])
        if usage is not None:
            body["usageMetadata"] = _usage(usage)
        return orjson.dumps(body)

    def render_stream(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> StreamPlan:
        if reply.tool_call or not reply.pieces:
            chunks = [self._response(call, self._parts(reply), rid, None)]
        else:
            chunks = [self._response(call, [{"text": p}], rid, None) for p in reply.pieces]
        # Gemini reports the finish reason and usage on the last chunk.
        chunks[-1]["candidates"][0]["finishReason"] = _FINISH[reply.stop]
        if usage is not None:
            chunks[-1]["usageMetadata"] = _usage(usage)
        if self.sse:
            tokens = [b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks]
            return StreamPlan(b"text/event-stream", [], tokens, [])
        tokens = [b",\r\n" + orjson.dumps(c) for c in chunks]
        tokens[0] = b"[" + tokens[0][3:]
        return StreamPlan(b"application/json", [], tokens, [b"]"])


def _thinks(config: dict[str, Any]) -> bool:
    thinking = config.get("thinkingConfig")
    return isinstance(thinking, dict) and thinking.get("thinkingBudget", 0) != 0


def _usage(usage: MockUsage) -> dict[str, int]:
    return {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens - usage.reasoning,
        "thoughtsTokenCount": usage.reasoning,
        "cachedContentTokenCount": usage.cached,
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }


def count(data: dict[str, Any], model: str | None, nousage: bool) -> bytes:
    inner = data.get("generateContentRequest")
    texts, _, _, _ = _contents_texts(inner if isinstance(inner, dict) else data)
    return orjson.dumps({"totalTokens": count_tokens("\n".join(texts))})


def _embedding(request: Any) -> dict[str, list[float]]:
    if not isinstance(request, dict) or not isinstance(request.get("content"), dict):
        raise BadRequest("'content' is required")
    text = "".join(_part_text(p) for p in request["content"].get("parts") or ())
    dims = optional_int(request, "outputDimensionality") or DEFAULT_EMBED_DIMS
    return {"values": embed(text, dims)}


def embed_content(data: dict[str, Any], model: str | None, nousage: bool) -> bytes:
    return orjson.dumps({"embedding": _embedding(data)})


def batch_embed_contents(data: dict[str, Any], model: str | None, nousage: bool) -> bytes:
    return orjson.dumps({"embeddings": [_embedding(r) for r in require_list(data, "requests")]})
