"""The texts of a request a guard reads, and the request rebuilt with some of them replaced.

A chat request's texts are its system prompt, every message's text parts and the arguments of
the tool calls in its history; ``Segment`` remembers where each came from. Requests are never
mutated: a redaction builds a new one (``dataclasses.replace``), so the original body is only
passed through while nothing changed it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lockgate.wire.types import ChatRequest, Message, TextPart, ToolCall

# Where a segment lives: ("system", part), ("msg", message, part), ("call", message, call).
Where = tuple[str, int, int]


@dataclass(slots=True)
class Segment:
    where: Where
    role: str  # system | user | assistant | tool
    text: str


def chat_segments(req: ChatRequest) -> list[Segment]:
    out = [Segment(("system", i, 0), "system", p.text) for i, p in enumerate(req.system) if p.text]
    for m, msg in enumerate(req.messages):
        for i, part in enumerate(msg.content):
            if isinstance(part, TextPart) and part.text:
                out.append(Segment(("msg", m, i), msg.role, part.text))
        for c, call in enumerate(msg.tool_calls):
            if call.arguments:
                out.append(Segment(("call", m, c), msg.role, call.arguments))
    return out


def with_segments(req: ChatRequest, changed: list[Segment]) -> ChatRequest:
    """``req`` with the text of each changed segment replaced."""
    system = list(req.system)
    messages = list(req.messages)
    for seg in changed:
        kind, a, b = seg.where
        if kind == "system":
            system[a] = TextPart(seg.text)
            continue
        msg = messages[a]
        if kind == "msg":
            content = list(msg.content)
            content[b] = TextPart(seg.text)
            messages[a] = msg = _message(msg, content=content)
        else:
            calls = list(msg.tool_calls)
            calls[b] = ToolCall(calls[b].id, calls[b].name, seg.text)
            messages[a] = _message(msg, tool_calls=calls)
    return replace(req, system=system, messages=messages)


def _message(msg: Message, **changes: object) -> Message:
    return replace(msg, **changes)  # type: ignore[arg-type]
