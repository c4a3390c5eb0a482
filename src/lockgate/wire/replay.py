"""A complete chat response as the canonical chunk sequence a stream of it would carry.

Used to answer a streaming client from a response that was not streamed (a cache hit), so
every stream encoder can serve it unchanged.
"""

from __future__ import annotations

from lockgate.wire.types import (
    ChatResponse,
    Chunk,
    StreamEnd,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
)


def response_chunks(resp: ChatResponse) -> list[Chunk]:
    chunks: list[Chunk] = [StreamStart(id=resp.id, model=resp.model, created=resp.created)]
    for part in resp.thinking:
        if part.redacted is not None:
            chunks.append(ThinkingDelta(redacted=part.redacted))
        else:
            chunks.append(ThinkingDelta(part.text, signature=part.signature or ""))
    text = resp.text()
    if text:
        chunks.append(TextDelta(text))
    for i, call in enumerate(resp.tool_calls):
        chunks.append(ToolCallStart(index=i, id=call.id, name=call.name))
        if call.arguments:
            chunks.append(ToolCallDelta(index=i, arguments=call.arguments))
    chunks.append(
        StreamEnd(stop_reason=resp.stop_reason, stop_sequence=resp.stop_sequence, usage=resp.usage)
    )
    return chunks
