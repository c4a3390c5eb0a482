"""Cached answers as bytes: a chat or embedding response, and back.

Only what every ingress encoder needs is kept (text, tool calls, stop reason, usage); a
response with a part this codec does not know (an image) is not cached.
"""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.wire.types import ChatResponse, EmbeddingResponse, TextPart, ToolCall, Usage


def _usage(u: Usage | None) -> list[int] | None:
    if u is None:
        return None
    return [u.input_tokens, u.output_tokens, u.cached_input_tokens, u.cache_creation_input_tokens]


def _unusage(v: Any) -> Usage | None:
    return None if v is None else Usage(*(int(x) for x in v))


def encode_chat(resp: ChatResponse) -> bytes | None:
    if any(not isinstance(p, TextPart) for p in resp.content):
        return None
    return orjson.dumps(
        {
            "k": "chat",
            "id": resp.id,
            "model": resp.model,
            "text": [p.text for p in resp.content if isinstance(p, TextPart)],
            "calls": [[c.id, c.name, c.arguments] for c in resp.tool_calls],
            "stop": resp.stop_reason,
            "seq": resp.stop_sequence,
            "usage": _usage(resp.usage),
            "created": resp.created,
        }
    )


def encode_embedding(resp: EmbeddingResponse) -> bytes:
    return orjson.dumps(
        {"k": "emb", "model": resp.model, "v": resp.vectors, "usage": _usage(resp.usage)}
    )


def decode(data: bytes) -> ChatResponse | EmbeddingResponse | None:
    try:
        d = orjson.loads(data)
        if d["k"] == "emb":
            return EmbeddingResponse(
                model=d["model"], vectors=d["v"], usage=_unusage(d["usage"]) or Usage()
            )
        return ChatResponse(
            id=d["id"],
            model=d["model"],
            content=[TextPart(t) for t in d["text"]],
            tool_calls=[ToolCall(*c) for c in d["calls"]],
            stop_reason=d["stop"],
            stop_sequence=d["seq"],
            usage=_unusage(d["usage"]),
            created=d["created"],
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
