"""The pipeline contract: order, short-circuit replies, per-policy state, hooks, completion."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import pytest

from lockgate.errors import PermissionDenied
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.finalize import Finalizer
from lockgate.pipeline.policy import Phase, Policy, Reply
from lockgate.pipeline.runner import Pipeline, apply_chunk_hooks
from lockgate.runtime import Runtime
from lockgate.wire.types import ChatResponse, Chunk, StreamEnd, TextDelta

Log = list[tuple[str, str, object]]


class Recording:
    """A policy that logs every hook with the state it was given."""

    name: ClassVar[str] = "rec"
    phase: ClassVar[Phase] = Phase.ADMIT

    def __init__(self, label: str, log: Log, result: object = None, phase: Phase = Phase.ADMIT):
        self.label, self.log, self.result = label, log, result
        self.phase = phase  # type: ignore[misc]
        self.name = label  # type: ignore[misc]

    async def on_request(self, ctx: RequestContext) -> object:
        self.log.append((self.label, "request", None))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result

    async def on_response(self, ctx: RequestContext, state: object, resp: Any) -> Any:
        self.log.append((self.label, "response", state))
        return resp

    def on_chunk(self, ctx: RequestContext, state: object, chunk: Chunk) -> list[Chunk]:
        self.log.append((self.label, "chunk", state))
        return [chunk]

    def on_complete(self, ctx: RequestContext, state: object) -> None:
        self.log.append((self.label, "complete", state))


class Bare:
    """Only on_request: no hooks to resolve."""

    name: ClassVar[str] = "bare"
    phase: ClassVar[Phase] = Phase.AUTHZ

    async def on_request(self, ctx: RequestContext) -> object:
        return "state-ignored-without-hooks"


def ctx_for(pipeline: Pipeline) -> RequestContext:
    runtime = cast(Runtime, SimpleNamespace(pipeline=pipeline))
    return RequestContext("r1", "chat", "openai", [], "127.0.0.1", runtime, 0.0)


def pipe(*policies: object) -> Pipeline:
    return Pipeline([cast(Policy, p) for p in policies])


async def test_policies_run_in_phase_order_and_states_return_to_their_owner() -> None:
    log: Log = []
    guard = Recording("guard", log, "g-state", Phase.GUARD)
    limits = Recording("limits", log, "reservation", Phase.ADMIT)
    authn = Recording("authn", log, None, Phase.AUTHN)
    p = pipe(guard, limits, authn)
    ctx = ctx_for(p)
    await p.authenticate(ctx)
    assert [e[0] for e in log] == ["authn"]
    assert await p.admit(ctx) is None
    assert [e[0] for e in log] == ["authn", "limits", "guard"]
    log.clear()
    await p.respond(ctx, ChatResponse(id="x", model="m"))
    p.complete(ctx)
    # reverse order; authn kept no state, so it takes no part after on_request
    assert log == [
        ("guard", "response", "g-state"),
        ("limits", "response", "reservation"),
        ("guard", "complete", "g-state"),
        ("limits", "complete", "reservation"),
    ]


async def test_a_rejecting_policy_is_not_completed_and_later_ones_never_run() -> None:
    log: Log = []
    first = Recording("first", log, "kept", Phase.AUTHZ)
    deny = Recording("deny", log, PermissionDenied("no"), Phase.ADMIT)
    later = Recording("later", log, "x", Phase.GUARD)
    p = pipe(first, deny, later)
    ctx = ctx_for(p)
    with pytest.raises(PermissionDenied):
        await p.admit(ctx)
    assert ctx.decided_by == "deny"
    log.clear()
    p.complete(ctx)
    assert log == [("first", "complete", "kept")]


async def test_a_reply_short_circuits_and_is_recorded_as_the_decision() -> None:
    log: Log = []
    reply = Reply(chat=ChatResponse(id="cached", model="m"))
    cache = Recording("cache", log, reply, Phase.CACHE)
    guard = Recording("guard", log, "g", Phase.GUARD)
    p = pipe(cache, guard)
    ctx = ctx_for(p)
    assert await p.admit(ctx) is reply
    assert ctx.decided_by == "cache"
    assert [e[0] for e in log] == ["cache"]
    assert await p.admit(ctx) is None  # nothing left to run
    assert ctx.kept == []


async def test_chunk_hooks_only_for_policies_that_kept_state() -> None:
    log: Log = []
    p = pipe(Recording("quiet", log, None), Recording("redact", log, "buf", Phase.GUARD), Bare())
    ctx = ctx_for(p)
    await p.admit(ctx)
    hooks = p.chunk_hooks(ctx)
    assert len(hooks) == 1
    out = apply_chunk_hooks(hooks, ctx, TextDelta("hi"))
    assert out == [TextDelta("hi")]
    assert log[-1] == ("redact", "chunk", "buf")


async def test_no_hooks_at_all_for_a_pipeline_without_them() -> None:
    p = pipe(Bare())
    ctx = ctx_for(p)
    await p.admit(ctx)
    assert p.chunk_hooks(ctx) == [] and p.complete(ctx) == []


def test_chunk_hooks_may_hold_back_and_release() -> None:
    held: list[Chunk] = []

    def hold(ctx: RequestContext, state: object, chunk: Chunk) -> list[Chunk]:
        if isinstance(chunk, TextDelta):
            held.append(chunk)
            return []
        out, held[:] = [*held, chunk], []
        return out

    def upper(ctx: RequestContext, state: object, chunk: Chunk) -> list[Chunk]:
        return [TextDelta(chunk.text.upper())] if isinstance(chunk, TextDelta) else [chunk]

    ctx = ctx_for(pipe())
    hooks = [(hold, None), (upper, None)]
    assert apply_chunk_hooks(hooks, ctx, TextDelta("a")) == []
    assert apply_chunk_hooks(hooks, ctx, StreamEnd()) == [TextDelta("A"), StreamEnd()]


class AsyncSettle:
    name: ClassVar[str] = "async-settle"
    phase: ClassVar[Phase] = Phase.ADMIT

    def __init__(self) -> None:
        self.settled: list[object] = []
        self.gate = asyncio.Event()

    async def on_request(self, ctx: RequestContext) -> object:
        return "r"

    async def on_complete(self, ctx: RequestContext, state: object) -> None:
        await self.gate.wait()
        self.settled.append(state)


async def test_async_completion_is_tracked_and_drained() -> None:
    policy = AsyncSettle()
    p = pipe(policy)
    ctx = ctx_for(p)
    await p.admit(ctx)
    fin = Finalizer()
    fin.finish(ctx)  # returns at once: the response is not delayed
    assert fin.pending == 1 and policy.settled == []
    policy.gate.set()
    await fin.drain()
    assert policy.settled == ["r"] and fin.pending == 0


async def test_completion_survives_cancellation_of_the_request_task() -> None:
    log: Log = []
    p = pipe(Recording("limits", log, "res"))
    ctx = ctx_for(p)
    fin = Finalizer()

    async def request() -> None:
        await p.admit(ctx)
        try:
            await asyncio.sleep(3600)  # the upstream call
        finally:
            fin.finish(ctx)

    task = asyncio.create_task(request())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ("limits", "complete", "res") in log


async def test_a_failing_completion_does_not_stop_the_others() -> None:
    log: Log = []

    class Broken(Recording):
        def on_complete(self, ctx: RequestContext, state: object) -> None:
            raise RuntimeError("boom")

    p = pipe(Recording("a", log, "a", Phase.AUTHZ), Broken("b", log, "b"))
    ctx = ctx_for(p)
    await p.admit(ctx)
    recorded: list[str] = []
    fin = Finalizer()
    fin.recorders.append(lambda c: recorded.append(c.request_id))
    fin.finish(ctx)
    assert ("a", "complete", "a") in log and recorded == ["r1"]


class CompleteOnly:
    """Keeps a state for on_complete only (a limit reservation): it never sees the output."""

    name: ClassVar[str] = "settle"
    phase: ClassVar[Phase] = Phase.ADMIT

    async def on_request(self, ctx: RequestContext) -> object:
        return "reservation"

    def on_complete(self, ctx: RequestContext, state: object) -> None:
        return None


async def test_sees_output_only_when_an_admitting_policy_has_a_response_or_chunk_hook() -> None:
    log: Log = []
    quiet = Pipeline([cast(Policy, CompleteOnly()), cast(Policy, Bare())])
    ctx = ctx_for(quiet)
    await quiet.admit(ctx)
    assert ctx.kept and not quiet.sees_output(ctx)  # passthrough stays possible
    watching = Pipeline([cast(Policy, CompleteOnly()), cast(Policy, Recording("g", log, "s"))])
    ctx = ctx_for(watching)
    await watching.admit(ctx)
    assert watching.sees_output(ctx)
    # A policy with hooks that kept no state for this request does not look either.
    idle = Pipeline([cast(Policy, Recording("g", log, None))])
    ctx = ctx_for(idle)
    await idle.admit(ctx)
    assert not idle.sees_output(ctx)
