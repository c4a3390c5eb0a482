"""A streamed answer collected chunk by chunk, to be cached as a complete response once the
stream ended well."""

from __future__ import annotations

from lockgate.wire.types import (
    ChatResponse,
    Chunk,
    StopReason,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


class Collector:
    __slots__ = (
        "calls",
        "created",
        "done",
        "id",
        "model",
        "stop",
        "stop_sequence",
        "text",
        "usage",
    )

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.text: list[str] = []
        self.calls: dict[int, list[str]] = {}
        self.stop: StopReason = "stop"
        self.stop_sequence: str | None = None
        self.usage: Usage | None = None
        self.done = False

    def add(self, chunk: Chunk) -> None:
        if isinstance(chunk, TextDelta):
            self.text.append(chunk.text)
        elif isinstance(chunk, ToolCallDelta):
            self.calls.setdefault(chunk.index, ["", "", ""])[2] += chunk.arguments
        elif isinstance(chunk, ToolCallStart):
            self.calls[chunk.index] = [chunk.id, chunk.name, ""]
        elif isinstance(chunk, StreamStart):
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        elif isinstance(chunk, StreamEnd):
            self.stop, self.stop_sequence, self.usage = (
                chunk.stop_reason,
                chunk.stop_sequence,
                chunk.usage,
            )
            self.done = True

    def response(self) -> ChatResponse:
        text = "".join(self.text)
        return ChatResponse(
            id=self.id,
            model=self.model,
            content=[TextPart(text)] if text else [],
            tool_calls=[ToolCall(*self.calls[i]) for i in sorted(self.calls)],
            stop_reason=self.stop,
            stop_sequence=self.stop_sequence,
            usage=self.usage,
            created=self.created,
        )
