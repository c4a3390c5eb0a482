"""OpenAI (and Azure OpenAI) wire format for the mock: chat completions, embeddings, models.

Written independently of ``lockgate.wire.openai`` on purpose, so that a bug in the gateway's
codec shows up as a test failure instead of being mirrored by its own test double.
"""

from __future__ import annotations

import base64
import struct
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
    text_of,
)
from lockgate.mock.engine import MOCK_WINDOW, ChatCall, MockReply, count_tokens, embed

SSE = b"text/event-stream"
_DONE = b"data: [DONE]\n\n"
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "demo-chat", "demo-embed")
_MODELS_BODY = orjson.dumps(
    {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "lockgate-mock"}
            for m in MODELS
        ],
    }
)
DEFAULT_EMBED_DIMS = 1536


def bearer_auth(headers: Headers, query: Query) -> tuple[int, str] | None:
    value = headers.get(b"authorization", b"")
    if not value.startswith(b"Bearer ") or not value[7:].strip():
        return 401, "Missing or invalid bearer token in the Authorization header."
    return None


def azure_auth(headers: Headers, query: Query) -> tuple[int, str] | None:
    if not headers.get(b"api-key", b"").strip():
        return 401, "Access denied due to missing or invalid api-key header."
    if not query.get("api-version"):
        return 400, "The api-version query parameter (?api-version=) is required."
    return None


def _usage(usage: MockUsage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
    }


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class OpenAIFormat:
    """Chat completions; the model comes from the body, or from the URL for Azure."""

    def error(self, status: int, message: str) -> bytes:
        kind, code = _ERROR_KINDS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        return orjson.dumps(
            {"error": {"message": message, "type": kind, "param": None, "code": code}}
        )

    def overflow(self, tokens: int) -> bytes:
        message = (
            f"This model's maximum context length is {MOCK_WINDOW} tokens. However, your "
            f"messages resulted in {tokens} tokens. Please reduce the length of the messages."
        )
        return orjson.dumps(
            {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            }
        )

    def parse_chat(self, data: dict[str, Any], model: str | None, stream: bool | None) -> ChatCall:
        messages = require_list(data, "messages")
        texts: list[str] = []
        user_text = ""
        for m in messages:
            if not isinstance(m, dict):
                raise BadRequest("each message must be an object")
            text = text_of(m.get("content"))
            texts.append(text)
            if m.get("role") == "user":
                user_text = text
            for tc in m.get("tool_calls") or ():
                fn = tc.get("function") or {}
                texts.append(f"{fn.get('name', '')} {fn.get('arguments', '')}")
        role = messages[-1].get("role")
        last_role = (
            "tool"
            if role in ("tool", "function")
            else ("assistant" if role == "assistant" else "user")
        )
        tools = [
            t["function"]["name"]
            for t in data.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
        choice = data.get("tool_choice")
        if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            tools = [choice["function"].get("name", "")]
        options = data.get("stream_options")
        return ChatCall(
            model=model or str(data.get("model") or ""),
            prompt_text=texts[-1] if last_role == "tool" else user_text,
            user_text=user_text,
            all_text="\n".join(texts),
            last_role=last_role,
            tools=tools,
            tool_choice_none=choice == "none",
            max_tokens=optional_int(data, "max_completion_tokens", "max_tokens"),
            stream=bool(data.get("stream")),
            include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
            thinking=data.get("reasoning_effort") not in (None, "none"),
        )

    def render(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> bytes:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if reply.tool_call else reply.text,
            "refusal": None,
            "annotations": [],
        }
        if reply.tool_call:
            tc = reply.tool_call
            message["tool_calls"] = [
                {
                    "id": f"call_{rid}",
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.arguments},
                }
            ]
        body: dict[str, Any] = {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion",
            "created": created,
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": _FINISH[reply.stop],
                }
            ],
            "system_fingerprint": None,
        }
        if usage is not None:
            body["usage"] = _usage(usage)
        return orjson.dumps(body)

    def render_stream(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> StreamPlan:
        # Each chunk is prefix + delta + suffix; the constant parts are serialised once.
        prefix = (
            orjson.dumps(
                {"id": f"chatcmpl-{rid}", "object": "chat.completion.chunk", "created": created}
            )[:-1]
            + b',"model":'
            + orjson.dumps(call.model)
            + b',"system_fingerprint":null'
        )
        if call.include_usage:
            prefix += b',"usage":null'
        prefix = b"data: " + prefix + b',"choices":[{"index":0,"delta":'

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            tail = b',"logprobs":null,"finish_reason":' + orjson.dumps(finish) + b"}]}\n\n"
            return prefix + orjson.dumps(delta) + tail

        head = [chunk({"role": "assistant", "content": ""})]
        if reply.tool_call:
            tc = reply.tool_call
            start = {"index": 0, "id": f"call_{rid}", "type": "function"}
            tokens = [
                chunk({"tool_calls": [{**start, "function": {"name": tc.name, "arguments": ""}}]})
            ]
            tokens += [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]})
                for f in tc.fragments
            ]
        else:
            tokens = [chunk({"content": p}) for p in reply.pieces]
        tail = [chunk({}, _FINISH[reply.stop])]
        if call.include_usage and usage is not None:
            tail.append(
                _sse(
                    {
                        "id": f"chatcmpl-{rid}",
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": call.model,
                        "system_fingerprint": None,
                        "choices": [],
                        "usage": _usage(usage),
                    }
                )
            )
        tail.append(_DONE)
        return StreamPlan(SSE, head, tokens, tail)


def _inputs(data: dict[str, Any]) -> list[str]:
    raw = data.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(x, str) for x in raw):
            return list(raw)
        if all(isinstance(x, int) for x in raw):  # one token array
            return [" ".join(map(str, raw))]
        if all(isinstance(x, list) for x in raw):  # several token arrays
            return [" ".join(map(str, x)) for x in raw]
    raise BadRequest("'input' must be a string, an array of strings or of token arrays")


def embeddings(data: dict[str, Any], model: str | None, nousage: bool) -> bytes:
    inputs = _inputs(data)
    dims = optional_int(data, "dimensions") or DEFAULT_EMBED_DIMS
    fmt = data.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be 'float' or 'base64'")
    items: list[dict[str, Any]] = []
    for i, text in enumerate(inputs):
        vec: Any = embed(text, dims)
        if fmt == "base64":
            vec = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
        items.append({"object": "embedding", "index": i, "embedding": vec})
    body: dict[str, Any] = {
        "object": "list",
        "data": items,
        "model": model or str(data.get("model") or ""),
    }
    if not nousage:
        n = sum(count_tokens(t) for t in inputs)
        body["usage"] = {"prompt_tokens": n, "total_tokens": n}
    return orjson.dumps(body)


def models(data: dict[str, Any], model: str | None, nousage: bool) -> bytes:
    return _MODELS_BODY
