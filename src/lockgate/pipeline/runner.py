"""The pipeline runner: one ordered list of policies, its hooks resolved once per config load.

``authenticate`` runs the AUTHN phase before the body is read; ``admit`` runs the rest. The
runner records which policies admitted (with their states) on the context, so responses,
chunks and completion reach exactly those policies.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lockgate.errors import GatewayError
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase, Policy, Reply
from lockgate.wire.types import ChatResponse, Chunk, EmbeddingResponse

log = logging.getLogger("lockgate.pipeline")

R = TypeVar("R", ChatResponse, EmbeddingResponse)
ChunkHook = Callable[[RequestContext, Any, Chunk], list[Chunk]]


class Pipeline:
    __slots__ = ("_async_complete", "_authn", "_chunk", "_complete", "_response", "policies")

    def __init__(self, policies: list[Policy]) -> None:
        self.policies: tuple[Policy, ...] = tuple(sorted(policies, key=lambda p: p.phase))
        self._authn = sum(1 for p in self.policies if p.phase == Phase.AUTHN)
        self._response = {id(p) for p in self.policies if _has(p, "on_response")}
        self._chunk = {id(p) for p in self.policies if _has(p, "on_chunk")}
        self._complete = {id(p) for p in self.policies if _has(p, "on_complete")}
        self._async_complete = {
            id(p)
            for p in self.policies
            if inspect.iscoroutinefunction(getattr(p, "on_complete", None))
        }

    async def warm(self) -> None:
        """Let policies load what they need before traffic arrives (local models)."""
        for policy in self.policies:
            warm = getattr(policy, "warm", None)
            if warm is not None:
                await warm()

    async def authenticate(self, ctx: RequestContext) -> Reply | None:
        """The AUTHN phase alone: it runs before the body is read or decoded."""
        return await self._run(ctx, self._authn)

    async def admit(self, ctx: RequestContext) -> Reply | None:
        """Every policy not yet run for this request; a ``Reply`` short-circuits the rest."""
        return await self._run(ctx, len(self.policies))

    async def _run(self, ctx: RequestContext, stop: int) -> Reply | None:
        policies = self.policies
        while ctx.policies_ran < stop:
            policy = policies[ctx.policies_ran]
            ctx.policies_ran += 1
            try:
                state = await policy.on_request(ctx)
            except GatewayError:
                ctx.decided_by = policy.name
                raise
            if state is None:
                continue
            if isinstance(state, Reply):
                ctx.decided_by = policy.name
                ctx.policies_ran = len(policies)  # later policies never run for this request
                return state
            ctx.kept.append((policy, state))
        return None

    # --- after the provider answered -------------------------------------------------------

    async def respond(self, ctx: RequestContext, response: R) -> R:
        """Pass a complete response through the admitting policies' ``on_response``."""
        for policy, state in reversed(ctx.kept):
            if id(policy) in self._response:
                response = await policy.on_response(ctx, state, response)  # type: ignore[attr-defined]
        return response

    def sees_output(self, ctx: RequestContext) -> bool:
        """Whether a policy of this request looks at its response or stream (``on_response``
        or ``on_chunk``): then the response is decoded; otherwise it may be relayed as the
        provider sent it. Two set lookups per admitting policy; none for most requests."""
        for policy, _ in ctx.kept:
            key = id(policy)
            if key in self._response or key in self._chunk:
                return True
        return False

    def chunk_hooks(self, ctx: RequestContext) -> list[tuple[ChunkHook, object]]:
        """This request's ``on_chunk`` hooks in call order; empty for almost every request."""
        return [
            (policy.on_chunk, state)  # type: ignore[attr-defined]
            for policy, state in reversed(ctx.kept)
            if id(policy) in self._chunk
        ]

    # --- completion ------------------------------------------------------------------------

    def complete(self, ctx: RequestContext) -> list[Awaitable[None]]:
        """Run the synchronous ``on_complete`` hooks now; return the asynchronous ones, for the
        caller to run as a tracked task. Errors are logged, never raised: completion of one
        policy must not stop the others."""
        pending: list[Awaitable[None]] = []
        for policy, state in reversed(ctx.kept):
            key = id(policy)
            if key not in self._complete:
                continue
            try:
                result = policy.on_complete(ctx, state)  # type: ignore[attr-defined]
            except Exception:
                log.exception("policy %s failed in on_complete", policy.name)
                continue
            if key in self._async_complete:
                pending.append(_logged(policy.name, result))
        return pending


def apply_chunk_hooks(
    hooks: list[tuple[ChunkHook, object]], ctx: RequestContext, chunk: Chunk
) -> list[Chunk]:
    chunks = [chunk]
    for hook, state in hooks:
        out: list[Chunk] = []
        for c in chunks:
            out.extend(hook(ctx, state, c))
        chunks = out
    return chunks


async def _logged(name: str, awaitable: Awaitable[None]) -> None:
    try:
        await awaitable
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("policy %s failed in on_complete", name)


def _has(policy: Policy, hook: str) -> bool:
    return callable(getattr(policy, hook, None))
