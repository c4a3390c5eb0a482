"""Payload capture for tenants that opted in (``observability.payloads.tenants``).

Built only when some tenant opted in, so nobody else pays for it. It admits in the AUTHZ phase
(it needs the principal) and keeps a small buffer only for opted-in tenants' requests. Because
response hooks run in reverse phase order, it sees the response and each streamed chunk after
every guard has redacted them; the request is taken at completion, also after the guards
replaced it. Both are capped at ``max_bytes`` (UTF-8) and land on ``ctx.payload`` for the
usage record, which stores them beside the call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import orjson

from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    Chunk,
    EmbeddingRequest,
    EmbeddingResponse,
    TextDelta,
    ToolCallDelta,
)


def _cap(text: str, limit: int) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[:limit].decode(errors="ignore") + "…[truncated]"


def request_text(chat: ChatRequest | None, embedding: EmbeddingRequest | None) -> str:
    if chat is not None:
        doc: dict[str, object] = {
            "model": chat.model,
            "system": chat.system_text() or None,
            "messages": [
                {
                    "role": m.role,
                    "content": m.text(),
                    **(
                        {"tool_calls": [[c.name, c.arguments] for c in m.tool_calls]}
                        if m.tool_calls
                        else {}
                    ),
                }
                for m in chat.messages
            ],
        }
        return orjson.dumps(doc).decode()
    if embedding is not None:
        return orjson.dumps({"model": embedding.model, "input": embedding.inputs}).decode()
    return ""


class Capture:
    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def add(self, texts: Iterable[str], limit: int) -> None:
        for text in texts:
            if self.size > limit:
                return
            self.parts.append(text)
            self.size += len(text)


class PayloadCapture:
    name: ClassVar[str] = "payload-capture"
    phase: ClassVar[Phase] = Phase.AUTHZ

    def __init__(self, tenants: Iterable[str], max_bytes: int) -> None:
        self.tenants = frozenset(tenants)
        self.max_bytes = max_bytes

    async def on_request(self, ctx: RequestContext) -> Capture | None:
        p = ctx.principal
        if p is None or p.tenant_name not in self.tenants:
            return None
        return Capture()

    async def on_response(
        self, ctx: RequestContext, state: Capture, response: ChatResponse | EmbeddingResponse
    ) -> ChatResponse | EmbeddingResponse:
        if isinstance(response, ChatResponse):
            calls = [c.name + c.arguments for c in response.tool_calls]
            state.add([response.text(), *calls], self.max_bytes)
        else:
            state.add([f"[{len(response.vectors)} vectors]"], self.max_bytes)
        return response

    def on_chunk(self, ctx: RequestContext, state: Capture, chunk: Chunk) -> list[Chunk]:
        if isinstance(chunk, TextDelta):
            state.add([chunk.text], self.max_bytes)
        elif isinstance(chunk, ToolCallDelta):
            state.add([chunk.arguments], self.max_bytes)
        return [chunk]

    def on_complete(self, ctx: RequestContext, state: Capture) -> None:
        request = request_text(ctx.chat, ctx.embedding)
        ctx.payload = (_cap(request, self.max_bytes), _cap("".join(state.parts), self.max_bytes))
