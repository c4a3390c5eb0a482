"""The in-process ``mock`` provider: deterministic answers with no network.

It powers the embedded default (``demo-chat``, ``demo-embed``) and answers exactly as
``lockgate mock-upstream`` does, because both use ``lockgate.mock.engine``. A
``[[mock:status=NNN]]`` directive in the last user message makes it fail with that status,
``[[mock:overflow]]`` answer a context-length error and ``[[mock:cut=N]]`` break a stream after N
tokens, so retries, fallbacks and breakers can be tried without a network.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import AsyncIterator
from typing import ClassVar

from lockgate.config.models import ProviderConfig
from lockgate.errors import UpstreamProtocolError, UpstreamStatusError
from lockgate.mock import engine
from lockgate.providers.overflow import is_context_overflow
from lockgate.upstream import Timeouts
from lockgate.wire.passthrough import PassthroughFormat
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    Chunk,
    EmbeddingRequest,
    EmbeddingResponse,
    Part,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

EMBED_DIMS = 256


def _prompt(req: ChatRequest) -> tuple[str, str, str]:
    """(prompt text, last user text, everything) as the mock engine wants them."""
    last = req.messages[-1] if req.messages else None
    user_text = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
    prompt = last.text() if last is not None else ""
    everything = " ".join([req.system_text(), *(m.text() for m in req.messages)])
    return prompt, user_text, everything


class MockChunkStream:
    def __init__(self, chunks: list[Chunk], provider: str = "mock", cut: int | None = None):
        self._chunks = chunks
        self._provider = provider
        self._cut = cut  # break after this many text deltas, like a dropped connection

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        sent = 0
        for chunk in self._chunks:
            if isinstance(chunk, TextDelta):
                if self._cut is not None and sent >= self._cut:
                    raise UpstreamProtocolError(
                        f"provider '{self._provider}' stream failed: the connection was "
                        "closed mid-stream (injected by a mock directive)"
                    )
                sent += 1
            yield chunk

    async def aclose(self) -> None:
        return None


class MockProvider:
    kind: ClassVar[str] = "mock"
    passthrough: ClassVar[PassthroughFormat | None] = None  # canonical in, canonical out

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        self.name = name
        self.region = cfg.region
        self._ids = itertools.count(1)
        self._prefix = os.urandom(4).hex()

    def _answer(self, req: ChatRequest, model: str) -> ChatResponse:
        prompt, user_text, everything = _prompt(req)
        directives = engine.parse_directives(user_text)
        if directives.status is not None:
            raise UpstreamStatusError(
                directives.status,
                f"provider '{self.name}' answered {directives.status}: "
                "injected by a mock directive",
                provider=self.name,
            )
        if directives.overflow:
            tokens = max(engine.MOCK_WINDOW + 1, engine.count_tokens(everything))
            message = f"prompt is too long: {tokens} tokens > {engine.MOCK_WINDOW} maximum"
            raise UpstreamStatusError(
                400,
                f"provider '{self.name}' answered 400: {message}",
                provider=self.name,
                context_overflow=is_context_overflow(400, None, message),
            )
        forced = (
            req.tool_choice.name if req.tool_choice and req.tool_choice.mode == "tool" else None
        )
        tools = [forced] if forced else [t.name for t in req.tools]
        reply = engine.reply_for(
            prompt,
            tools=tools,
            tool_choice_none=bool(req.tool_choice and req.tool_choice.mode == "none"),
            last_role=req.messages[-1].role if req.messages else "user",
            max_tokens=req.max_tokens,
        )
        content: list[Part] = [TextPart(reply.text)] if reply.text else []
        calls = []
        if reply.tool_call is not None:
            calls.append(
                ToolCall(
                    f"call_{self._prefix}{next(self._ids)}",
                    reply.tool_call.name,
                    reply.tool_call.arguments,
                )
            )
        usage = (
            None
            if directives.nousage
            else Usage(
                input_tokens=engine.count_tokens(everything), output_tokens=reply.output_tokens
            )
        )
        return ChatResponse(
            id=f"chatcmpl-mock{self._prefix}{next(self._ids)}",
            model=model,
            content=content,
            tool_calls=calls,
            stop_reason=reply.stop,
            usage=usage,
            created=int(time.time()),
        )

    def dropped_params(self, req: ChatRequest) -> list[str]:
        # The mock's answers depend on the prompt and tools only, by design: nothing a
        # client sends is "dropped" in a way that would surprise it.
        return []

    async def chat(self, req: ChatRequest, model: str, timeouts: Timeouts) -> ChatResponse:
        return self._answer(req, model)

    async def open_stream(
        self, req: ChatRequest, model: str, timeouts: Timeouts
    ) -> MockChunkStream:
        resp = self._answer(req, model)
        chunks: list[Chunk] = [StreamStart(resp.id, model, resp.created)]
        text = resp.text()
        for word in text.split(" ") if text else ():
            chunks.append(TextDelta(word if len(chunks) == 1 else " " + word))
        for i, call in enumerate(resp.tool_calls):
            chunks.append(ToolCallStart(i, call.id, call.name))
            chunks.append(ToolCallDelta(i, call.arguments))
        chunks.append(StreamEnd(resp.stop_reason, usage=resp.usage))
        cut = engine.parse_directives(_prompt(req)[1]).cut
        return MockChunkStream(chunks, self.name, cut)

    async def embed(
        self, req: EmbeddingRequest, model: str, timeouts: Timeouts
    ) -> EmbeddingResponse:
        dims = req.dimensions or EMBED_DIMS
        vectors = [engine.embed(text, dims) for text in req.inputs]
        tokens = sum(engine.count_tokens(t) for t in req.inputs)
        return EmbeddingResponse(model=model, vectors=vectors, usage=Usage(input_tokens=tokens))

    async def count_tokens(self, req: ChatRequest, model: str, timeouts: Timeouts) -> int | None:
        return engine.count_tokens(_prompt(req)[2])

    async def aclose(self) -> None:
        return None
