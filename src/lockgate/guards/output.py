"""Output guards on a complete response and on a stream.

A complete response is checked against the schema first (with one repair request to the
deployment that answered, whose usage is added to the request's), then each text guard runs
over its text and tool-call arguments. A stream's text passes through one ``StreamScanner``
per text guard, chained; tool-call arguments are held until the end of the stream and scanned
whole; when a schema is enforced, the text is held until the end and validated before any of
it is released (a stream is not repaired: the client would already be reading it).
"""

from __future__ import annotations

from dataclasses import replace

from lockgate.errors import ResponseFormatViolation
from lockgate.guards.decisions import blocked, decide
from lockgate.guards.detect import Finding, counts, redact, scan
from lockgate.guards.schema import SchemaChecker, enforced
from lockgate.guards.spec import Guard
from lockgate.guards.stream import StreamScanner
from lockgate.pipeline.context import RequestContext
from lockgate.wire.types import (
    ChatResponse,
    Chunk,
    Message,
    ResponseFormat,
    StreamEnd,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

CHECKER = SchemaChecker()
REPAIR = (
    "Your previous reply does not match the required response format ({problem}). "
    "Reply again with only the corrected JSON."
)


class OutputState:
    __slots__ = (
        "_args",
        "_held",
        "_scanners",
        "_thinking",
        "counts",
        "format",
        "schema",
        "text_guards",
    )

    def __init__(self, guards: tuple[Guard, ...], fmt: ResponseFormat | None) -> None:
        self.text_guards = tuple(g for g in guards if g.detectors)
        schema = [g for g in guards if g.type == "schema"] if enforced(fmt) else []
        self.schema: Guard | None = schema[0] if schema else None
        self.format = fmt
        self.counts: dict[int, dict[str, int]] = {}
        self._scanners: list[StreamScanner] | None = None
        self._args: dict[int, list[str]] = {}
        self._held: list[str] = []  # text held for the schema check
        self._thinking: list[str] = []  # reasoning of the open thinking block

    # --- bookkeeping -----------------------------------------------------------------------

    def _found(self, ctx: RequestContext, i: int, findings: list[Finding]) -> bool:
        """Count ``findings`` of text guard ``i``; raise on block; True when they redact."""
        guard = self.text_guards[i]
        found = counts(findings)
        if guard.action == "block":
            raise blocked(ctx, guard, "output", found)
        total = self.counts.setdefault(i, {})
        for entity, n in found.items():
            total[entity] = total.get(entity, 0) + n
        return guard.action == "redact"

    def record(self, ctx: RequestContext) -> None:
        for i, found in self.counts.items():
            if found:
                decide(ctx, self.text_guards[i], "output", found)
        self.counts = {}

    def guard_text(self, ctx: RequestContext, text: str) -> str:
        for i, guard in enumerate(self.text_guards):
            findings = scan(guard.detectors, text)
            if findings and self._found(ctx, i, findings):
                text = redact(text, findings)
        return text

    # --- streams ---------------------------------------------------------------------------

    def chunk(self, ctx: RequestContext, chunk: Chunk) -> list[Chunk]:
        if isinstance(chunk, TextDelta):
            text = self._feed(ctx, chunk.text, final=False)
            if self.schema is not None:
                self._held.append(text)
                return []
            return [TextDelta(text)] if text else []
        if isinstance(chunk, ToolCallDelta):
            self._args.setdefault(chunk.index, []).append(chunk.arguments)
            return []
        if isinstance(chunk, ThinkingDelta) and self.text_guards and chunk.redacted is None:
            # Reasoning is held like tool arguments and scanned whole when its block closes
            # (its signature), or at the end of a stream whose reasoning has no signature.
            self._thinking.append(chunk.text)
            if chunk.signature is None:
                return []
            return [self._release_thinking(ctx, chunk.signature)]
        if isinstance(chunk, StreamEnd):
            return self._end(ctx, chunk)
        return [chunk]

    def _release_thinking(self, ctx: RequestContext, signature: str | None) -> ThinkingDelta:
        text, self._thinking = "".join(self._thinking), []
        return ThinkingDelta(self.guard_text(ctx, text), signature=signature)

    def _feed(self, ctx: RequestContext, text: str, final: bool) -> str:
        if self._scanners is None:
            self._scanners = [StreamScanner(g.detectors) for g in self.text_guards]
        for i, scanner in enumerate(self._scanners):
            if final:
                released, findings = scanner.feed(text) if text else ("", [])
                tail, more = scanner.flush()
                findings = [
                    *findings,
                    *(
                        Finding(f.start + len(released), f.end + len(released), f.entity)
                        for f in more
                    ),
                ]
                released += tail
            else:
                released, findings = scanner.feed(text)
            if findings and self._found(ctx, i, findings):
                released = redact(released, findings)
            text = released
        return text

    def _end(self, ctx: RequestContext, end: StreamEnd) -> list[Chunk]:
        out: list[Chunk] = []
        if self._thinking:
            out.append(self._release_thinking(ctx, None))
        text = self._feed(ctx, "", final=True)
        if self.schema is not None:
            text = "".join(self._held) + text
            self._check_schema(ctx, self.schema, text)
        if text:
            out.append(TextDelta(text))
        for index, parts in sorted(self._args.items()):
            out.append(ToolCallDelta(index, self.guard_text(ctx, "".join(parts))))
        out.append(end)
        return out

    def _check_schema(self, ctx: RequestContext, guard: Guard, text: str) -> None:
        assert self.format is not None
        problem = CHECKER.problem(self.format, text)
        if problem is None:
            return
        decide(ctx, guard, "output", {"SCHEMA": 1})
        if guard.action == "block":
            raise schema_error(guard, self.format, problem)


def schema_error(guard: Guard, fmt: ResponseFormat, problem: str) -> ResponseFormatViolation:
    name = f" '{fmt.name}'" if fmt.name else ""
    return ResponseFormatViolation(
        f"{guard.label}: the model's answer does not match the response_format schema{name} "
        f"after one repair request: {problem}"
    )


async def check_response(
    ctx: RequestContext, state: OutputState, resp: ChatResponse
) -> ChatResponse:
    if state.schema is not None:
        resp = await _enforce_schema(ctx, state, state.schema, resp)
    if state.text_guards:
        content = [
            TextPart(state.guard_text(ctx, p.text)) if isinstance(p, TextPart) else p
            for p in resp.content
        ]
        calls = [
            ToolCall(c.id, c.name, state.guard_text(ctx, c.arguments)) for c in resp.tool_calls
        ]
        # Reasoning is output too (a redaction voids its signature: the guard's choice).
        thinking = [
            replace(t, text=state.guard_text(ctx, t.text)) if t.text else t for t in resp.thinking
        ]
        resp = replace(resp, content=content, tool_calls=calls, thinking=thinking)
        state.record(ctx)
    return resp


async def _enforce_schema(
    ctx: RequestContext, state: OutputState, guard: Guard, resp: ChatResponse
) -> ChatResponse:
    fmt = state.format
    assert fmt is not None
    problem = CHECKER.problem(fmt, resp.text())
    if problem is None:
        return resp
    if guard.action == "flag":
        decide(ctx, guard, "output", {"SCHEMA": 1})
        return resp
    repaired = await _repair(ctx, resp, problem)
    if repaired is not None and CHECKER.problem(fmt, repaired.text()) is None:
        decide(ctx, guard, "output", {"SCHEMA": 1}, action="repair")
        return repaired
    again = problem if repaired is None else CHECKER.problem(fmt, repaired.text()) or problem
    decide(ctx, guard, "output", {"SCHEMA": 1})
    ctx.decided_by = "guards"
    raise schema_error(guard, fmt, again)


async def _repair(ctx: RequestContext, resp: ChatResponse, problem: str) -> ChatResponse | None:
    """One more request to the deployment that answered, with the problem explained."""
    target, route, req = ctx.target, ctx.model_route, ctx.chat
    if target is None or route is None or req is None:
        return None
    ask = replace(
        req,
        messages=[
            *req.messages,
            Message("assistant", [TextPart(resp.text())]),
            Message("user", [TextPart(REPAIR.format(problem=problem))]),
        ],
        stream=False,
    )
    repaired = await target.provider.chat(ask, target.model, route.timeouts)
    if repaired.usage is not None:
        u, r = ctx.usage or Usage(), repaired.usage
        ctx.usage = Usage(
            input_tokens=u.input_tokens + r.input_tokens,
            output_tokens=u.output_tokens + r.output_tokens,
            cached_input_tokens=u.cached_input_tokens + r.cached_input_tokens,
            cache_creation_input_tokens=u.cache_creation_input_tokens
            + r.cache_creation_input_tokens,
        )
    return repaired
