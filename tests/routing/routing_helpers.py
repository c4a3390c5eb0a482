"""Test doubles for routing without a network: scripted providers, a virtual clock, contexts.

Providers answer ``chat`` (and streams) with scripted outcomes; the clock only moves when a
test (or the router's injected sleep) moves it, so backoffs and deadlines are asserted as
values and nothing waits for real time.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable
from types import SimpleNamespace
from typing import ClassVar, cast

from lockgate.config.models import CircuitBreakerConfig, Price, RetryConfig
from lockgate.errors import UpstreamStatusError
from lockgate.pipeline.context import RequestContext
from lockgate.providers.base import Provider
from lockgate.routing.router import Router
from lockgate.routing.strategies import Balancer
from lockgate.runtime import ModelRoute, Runtime, Target
from lockgate.upstream import Timeouts
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    Chunk,
    Message,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
)

REQUEST = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])])

Outcome = BaseException | None  # None: answer successfully


class Clock:
    """A virtual monotonic clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sleeps:
    """The router's sleep: records each delay and moves the virtual clock by it."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.delays: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


class FakeStream:
    def __init__(self, chunks: list[Chunk], fail_after: int | None, error: BaseException | None):
        self.chunks = chunks
        self.fail_after = fail_after
        self.error = error
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        for i, chunk in enumerate(self.chunks):
            if self.fail_after is not None and i >= self.fail_after and self.error is not None:
                raise self.error
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


class FakeProvider:
    """Answers with scripted outcomes, in order, then successes; records every call.

    ``took`` moves the virtual clock by that many seconds per call (a slow deployment).
    """

    kind: ClassVar[str] = "fake"

    def __init__(
        self,
        name: str,
        script: Iterable[Outcome] = (),
        region: str | None = None,
        *,
        clock: Clock | None = None,
        took: float = 0.0,
    ):
        self.name = name
        self.region = region
        self.script = list(script)
        self.calls: list[str] = []
        self.timeouts: list[Timeouts] = []
        self.clock = clock
        self.took = took

    def _next(self, model: str, timeouts: Timeouts) -> None:
        self.calls.append(model)
        self.timeouts.append(timeouts)
        if self.clock is not None and self.took:
            self.clock.advance(self.took)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome

    async def chat(self, req: ChatRequest, model: str, timeouts: Timeouts) -> ChatResponse:
        self._next(model, timeouts)
        return ChatResponse(id=f"{self.name}-{len(self.calls)}", model=model)

    async def open_stream(self, req: ChatRequest, model: str, timeouts: Timeouts) -> FakeStream:
        self._next(model, timeouts)
        chunks: list[Chunk] = [StreamStart("s", model, 0), TextDelta("a"), TextDelta("b")]
        chunks.append(StreamEnd("stop"))
        return FakeStream(chunks, None, None)


def status(code: int, retry_after: float | None = None) -> UpstreamStatusError:
    return UpstreamStatusError(code, f"HTTP {code}", provider="p", retry_after=retry_after)


def target(
    provider: FakeProvider,
    model: str = "up",
    *,
    weight: float = 1.0,
    region: str | None = None,
    price: Price | None = None,
    priority: int = 1,
) -> Target:
    return Target(
        key=f"{provider.name}/{model}",
        provider=cast(Provider, provider),
        model=model,
        weight=weight,
        region=region if region is not None else provider.region,
        price=price or Price(),
        priority=priority,
    )


def route(
    name: str,
    *targets: Target,
    kind: str | None = "chat",
    routing: str = "weighted",
    retry: RetryConfig | None = None,
    fallbacks: tuple[str, ...] = (),
    timeouts: Timeouts | None = None,
    breaker: CircuitBreakerConfig | None = None,
    context_window: int | None = None,
) -> ModelRoute:
    retry = retry or RetryConfig(attempts=2, backoff=0.25, max_backoff=4.0)
    return ModelRoute(
        name=name,
        kind=kind,
        targets=targets,
        routing=routing,
        price=Price(),
        retry=retry,
        retry_on=frozenset(retry.on),
        timeouts=timeouts or Timeouts(),
        fallbacks=fallbacks,
        default_max_tokens=4096,
        breaker=breaker,
        context_window=context_window,
        tiered=len({t.priority for t in targets}) > 1,
    )


def context(
    *routes: ModelRoute,
    residency: tuple[str, ...] = (),
    allowed: Iterable[str] | None = None,
    request: ChatRequest = REQUEST,
    kind: str = "chat",
) -> RequestContext:
    """A context for the first route's model; the caller may use ``allowed`` (default:
    every route given)."""
    models = {r.name: r for r in routes}
    permitted = frozenset(models if allowed is None else allowed)
    runtime = cast(Runtime, SimpleNamespace(models=models, allowed_for=lambda principal: permitted))
    principal = SimpleNamespace(residency=residency, plan=None, roles=())
    return RequestContext(
        request_id="req-1",
        route=kind,
        ingress="openai",
        headers=[],
        client_ip="127.0.0.1",
        runtime=runtime,
        started=0.0,
        principal=principal,  # type: ignore[arg-type]
        model=routes[0].name,
        chat=request if kind != "embeddings" else None,
    )


async def attempt(t: Target, r: ModelRoute) -> ChatResponse:
    return await t.provider.chat(REQUEST, t.model, r.timeouts)


def make_router(sleeps: Sleeps | None = None, seed: int = 0, clock: Clock | None = None) -> Router:
    clock = clock or (sleeps.clock if sleeps is not None and sleeps.clock else Clock())
    sleeps = sleeps or Sleeps(clock)
    return Router(sleep=sleeps, balancer=Balancer(random.Random(seed)), clock=clock, wall=clock)
