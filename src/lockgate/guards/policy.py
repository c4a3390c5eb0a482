"""The guards as two policies around the cache.

``InputGuards`` (phase GUARD_INPUT, after limits, before the cache) scans the prompt: a block
answers 400 before the cache or any provider sees it; a redaction replaces ``ctx.chat`` (or
``ctx.embedding``), so the cache key, the provider and the usage record all see the redacted
text. ``OutputGuards`` (phase GUARD, after the cache) keeps per-request state only when
output guards apply: it checks complete responses (``on_response``, before the cache stores
them) and each streamed chunk (``on_chunk``, holding back only what could still become a
finding). Requests that no guard covers cost one memoised lookup.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from lockgate.guards.decisions import blocked, decide
from lockgate.guards.detect import counts, redact, scan
from lockgate.guards.injection import ScoreMemo, heuristic_score
from lockgate.guards.output import OutputState, check_response
from lockgate.guards.spec import Guard, GuardBook
from lockgate.guards.texts import Segment, chat_segments, with_segments
from lockgate.ml.hub import ModelHub
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase
from lockgate.policies.values import operation
from lockgate.wire.types import ChatResponse, Chunk, EmbeddingResponse

INJECTION_ROLES = frozenset({"user", "tool"})


class InputGuards:
    name: ClassVar[str] = "guards"
    phase: ClassVar[Phase] = Phase.GUARD_INPUT

    def __init__(self, book: GuardBook, hub: ModelHub) -> None:
        self._book = book
        self._hub = hub
        self._memo = ScoreMemo()

    async def warm(self) -> None:
        if self._book.uses_classifier:
            await self._hub.classifier()

    async def on_request(self, ctx: RequestContext) -> None:
        p, route = ctx.principal, ctx.model_route
        if p is None or route is None:
            return
        found = self._book.for_request(p.tenant_name, p.app_name, route.name, operation(ctx))
        if found is None or not found.input:
            return
        if ctx.chat is not None:
            # The client's own body must not go upstream: it may carry text no guard read.
            ctx.prompt_inspected = True
            segments = chat_segments(ctx.chat)
            changed = await self._scan(ctx, found.input, segments)
            if changed:
                ctx.chat = with_segments(ctx.chat, changed)
        elif ctx.embedding is not None:
            # Documents to embed are data, not instructions: no prompt-injection scoring.
            guards = tuple(g for g in found.input if g.type != "prompt_injection")
            inputs = ctx.embedding.inputs
            segments = [Segment(("input", i, 0), "user", t) for i, t in enumerate(inputs)]
            changed = await self._scan(ctx, guards, segments)
            if changed:
                ctx.embedding = replace(ctx.embedding, inputs=[s.text for s in segments])

    async def _scan(
        self, ctx: RequestContext, guards: tuple[Guard, ...], segments: list[Segment]
    ) -> list[Segment]:
        changed: dict[int, Segment] = {}
        for guard in guards:
            if guard.type == "prompt_injection":
                await self._injection(ctx, guard, segments)
                continue
            total: dict[str, int] = {}
            for i, seg in enumerate(segments):
                findings = scan(guard.detectors, seg.text)
                if not findings:
                    continue
                for entity, n in counts(findings).items():
                    total[entity] = total.get(entity, 0) + n
                if guard.action == "redact":
                    seg.text = redact(seg.text, findings)
                    changed[i] = seg
            if not total:
                continue
            if guard.action == "block":
                raise blocked(ctx, guard, "input", total)
            decide(ctx, guard, "input", total)
        return list(changed.values())

    async def _injection(self, ctx: RequestContext, guard: Guard, segments: list[Segment]) -> None:
        texts = [s.text for s in segments if s.role in INJECTION_ROLES]
        score = max((heuristic_score(t) for t in texts), default=0.0)
        if score < guard.threshold:
            score = max(score, await self._classify(texts))
        if score < guard.threshold:
            return
        if guard.action == "block":
            raise blocked(ctx, guard, "input", {}, score)
        decide(ctx, guard, "input", {}, score)

    async def _classify(self, texts: list[str]) -> float:
        memo = self._memo
        keys = [memo.key(t) for t in texts]
        scores = [memo.get(k) for k in keys]
        todo = [(k, t) for k, t, s in zip(keys, texts, scores, strict=True) if s is None]
        if todo:
            classifier = await self._hub.classifier()
            fresh = await self._hub.run(lambda: classifier.score([t for _, t in todo]))
            for (k, _), s in zip(todo, fresh, strict=True):
                memo.put(k, s)
            scores += fresh
        return max((s for s in scores if s is not None), default=0.0)


class OutputGuards:
    name: ClassVar[str] = "guards"
    phase: ClassVar[Phase] = Phase.GUARD

    def __init__(self, book: GuardBook) -> None:
        self._book = book

    async def on_request(self, ctx: RequestContext) -> OutputState | None:
        p, route = ctx.principal, ctx.model_route
        if p is None or route is None or ctx.chat is None or ctx.route != "chat":
            return None
        found = self._book.for_request(p.tenant_name, p.app_name, route.name, operation(ctx))
        if found is None or not found.output:
            return None
        state = OutputState(found.output, ctx.chat.response_format)
        if not state.text_guards and state.schema is None:
            return None  # only a schema guard, and no response_format to enforce
        return state

    async def on_response(
        self, ctx: RequestContext, state: OutputState, resp: ChatResponse | EmbeddingResponse
    ) -> ChatResponse | EmbeddingResponse:
        if not isinstance(resp, ChatResponse):
            return resp
        return await check_response(ctx, state, resp)

    def on_chunk(self, ctx: RequestContext, state: OutputState, chunk: Chunk) -> list[Chunk]:
        return state.chunk(ctx, chunk)

    def on_complete(self, ctx: RequestContext, state: OutputState) -> None:
        state.record(ctx)
