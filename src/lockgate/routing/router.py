"""Attempts, retries and fallbacks for one client request.

The chain is the requested model, then its ``fallbacks`` that the caller may use: a fallback is
tried only if the caller's plan and roles allow it (``Runtime.allowed_for``, the one access
function) and it serves the route called (``kind``). For each model, only deployments in the
caller's ``residency`` regions serve (none anywhere in the chain: 403, never a silent move to
another region), and a model whose ``context_window`` is smaller than the prompt is skipped.

Within a model the router makes up to ``1 + retry.attempts`` attempts. Each picks a deployment
by the model's strategy (``strategies``) among those that may serve now: not behind an open
circuit breaker (``breaker``), not failing its health check (``health``), preferring the
deployments this request has not tried yet and those not cooling down after a ``retry-after``.
A retryable failure waits a jittered exponential backoff (at least the ``retry-after`` of the
deployment it retries on, at most ``max_backoff``). When a model's attempts are spent, or none
of its deployments may serve, the next fallback is tried; a provider's context-length error
moves to the next fallback with a larger window (none: 400 naming the window).

``timeout.total`` of the requested model bounds the whole chain (``deadline``). The response
names the model that served (``x-lockgate-model``, and the ``model`` field) and whether a
fallback served (``x-lockgate-fallback``); ``ctx.routing`` records why (``trace``).

A stream's outcome is known only when it ends: the router keeps its attempt open (in flight,
breaker probe) until ``stream_ended(ctx)``, which the streaming handler calls once, in a
``finally``; a stream that breaks after its first token counts as a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from lockgate.errors import GatewayError, UpstreamError, UpstreamStatusError
from lockgate.pipeline.context import RequestContext
from lockgate.routing.breaker import Breaker, BreakerBook
from lockgate.routing.breaker_sync import BreakerSync
from lockgate.routing.health import HealthMonitor
from lockgate.routing.report import DeploymentRow, deployment_rows
from lockgate.routing.stats import DeploymentStats
from lockgate.routing.strategies import Balancer
from lockgate.routing.trace import PendingStream
from lockgate.routing.walk import Walk, is_failure
from lockgate.runtime import ModelRoute, Runtime, Target

if TYPE_CHECKING:
    from lockgate.services import Services

T = TypeVar("T")
# One attempt: returns the awaitable of the call (usually the provider coroutine itself, so
# no wrapper coroutine sits between the router and the provider on the hot path). The route
# it receives carries the timeouts of this attempt (cut to the request's deadline).
Attempt = Callable[[Target, ModelRoute], Awaitable[T]]

FALLBACK_NO = (b"x-lockgate-fallback", b"false")
FALLBACK_YES = (b"x-lockgate-fallback", b"true")


class Router:
    def __init__(
        self,
        *,
        balancer: Balancer | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        health: HealthMonitor | None = None,
    ) -> None:
        self.balancer = balancer or Balancer()
        self.sleep = sleep
        self.clock = clock
        self.wall = wall
        self.breakers = BreakerBook()
        self.health = health or HealthMonitor(wall=wall)
        self.sync: BreakerSync | None = None
        self.cooling: dict[str, float] = {}  # deployment -> end of its retry-after

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, services: Services, runtime: Runtime) -> None:
        """Wire breakers to the alert dispatcher and, with Redis state, to the shared state;
        start the health checks of ``runtime``."""
        alerts = services.alerts
        if alerts is not None:
            self.breakers.emit = alerts.emit
        client = getattr(services.state, "client", None)
        if client is not None and self.sync is None:
            self.breakers.shared = True
            self.sync = BreakerSync(client, self.breakers, clock=self.clock, wall=self.wall)
            self.breakers.on_shared_outcome = self.sync.wake
            self.sync.start()
        self.configure(runtime)

    def configure(self, runtime: Runtime) -> None:
        """A (re)loaded config: its breakers exist from now on; health checks restart."""
        self.breakers.prepare(runtime.models.values())
        self.health.configure(runtime)

    async def aclose(self) -> None:
        if self.sync is not None:
            await self.sync.aclose()
        await self.health.aclose()

    # --- one request -------------------------------------------------------------------------

    async def run(self, ctx: RequestContext, first: ModelRoute, attempt: Attempt[T]) -> T:
        walk = Walk(ctx, first, self.clock())
        targets = walk.eligible(first)
        if targets is not None:
            try:
                return await self._run_route(ctx, first, targets, attempt, walk)
            except GatewayError as err:
                self._carry_on(ctx, first, err, walk)
        if first.fallbacks:
            for route in self.fallbacks(ctx, first, walk):
                targets = walk.eligible(route)
                if targets is None:
                    continue
                try:
                    return await self._run_route(ctx, route, targets, attempt, walk)
                except GatewayError as err:
                    self._carry_on(ctx, route, err, walk)
        raise walk.failure()

    def _carry_on(
        self, ctx: RequestContext, route: ModelRoute, err: GatewayError, walk: Walk
    ) -> None:
        """After ``route`` failed: return to try the next fallback, or raise the answer."""
        if isinstance(err, UpstreamStatusError) and err.context_overflow:
            walk.overflowed(route, err)
            return
        if not err.may_fall_back:
            raise err
        walk.last = err
        if walk.left(self.clock()) <= 0:
            raise walk.spent(ctx.attempts, err) from None
        walk.note(route.name, None, "fell back", err.message)

    def fallbacks(
        self, ctx: RequestContext, first: ModelRoute, walk: Walk | None = None
    ) -> Iterator[ModelRoute]:
        """The fallbacks of ``first`` that the caller may use and that serve the route called
        (computed only when the requested model could not serve)."""
        models = ctx.runtime.models
        allowed = ctx.runtime.allowed_for(ctx.principal)
        wanted = "embedding" if ctx.route == "embeddings" else "chat"
        seen = {first.name}
        for name in first.fallbacks:
            route = models.get(name)
            if route is None or name in seen:
                continue
            seen.add(name)
            if route.kind is not None and route.kind != wanted:
                continue
            if name not in allowed:
                if walk is not None:
                    walk.note(name, None, "skipped", "not in the caller's plan or roles")
                continue
            yield route

    def chain(self, ctx: RequestContext, first: ModelRoute) -> list[ModelRoute]:
        """The requested model and the fallbacks this caller may get."""
        return [first, *self.fallbacks(ctx, first)]

    async def _run_route(
        self,
        ctx: RequestContext,
        route: ModelRoute,
        targets: Sequence[Target],
        attempt: Attempt[T],
        walk: Walk,
    ) -> T:
        retry_limit = route.retry.attempts
        tried: set[str] | None = None
        n = 0
        while True:
            now = self.clock()
            candidates = self._available(route, targets, now, tried, walk)
            if not candidates:
                raise walk.unavailable(route)
            target = self.balancer.pick(route, candidates, walk.streaming)
            if n:
                now = await self._back_off(route, target, n - 1, now, walk)
            if n or route is not walk.first:
                if walk.left(now) <= 0:
                    raise walk.spent(ctx.attempts, walk.last)
                bound = walk.bound(route, now)
            else:  # the request's first attempt: the whole total is left
                bound = route
            breaker = (
                self.breakers.get(route.name, target.key, route.breaker)
                if route.breaker is not None
                else None
            )
            probe = breaker.acquire() if breaker is not None else False
            stats = self.balancer.stats_for(target.key)
            ctx.attempts += 1
            ctx.target = target
            ctx.served_model = route.name
            stats.in_flight += 1
            started = self.clock()
            try:
                result = await attempt(target, bound)
            except UpstreamError as err:
                self._failed(route, target, stats, breaker, probe, err, walk)
                if isinstance(err, UpstreamStatusError) and err.context_overflow:
                    raise
                if n >= retry_limit or not self._retryable(err, route):
                    raise
                tried = tried or set()
                tried.add(target.key)
                n += 1
                continue
            except BaseException:
                stats.in_flight -= 1
                if breaker is not None:
                    self.breakers.record(breaker, self.clock(), None, probe)
                raise
            self._served(ctx, route, target, stats, breaker, probe, started, walk)
            return result

    async def _back_off(
        self, route: ModelRoute, target: Target, n: int, now: float, walk: Walk
    ) -> float:
        """Wait before retry ``n + 1`` on ``target``; returns the time after the wait. A wait
        that would end past the deadline is not taken: the model gives up (its fallbacks, if
        any, get the time that is left)."""
        retry = route.retry
        delay = min(retry.max_backoff, retry.backoff * (2**n))
        delay *= 0.5 + 0.5 * self.balancer.rng.random()
        cooling = self.cooling.get(target.key, 0.0) - now
        if cooling > 0:  # the deployment asked to be left alone this long
            delay = max(delay, min(cooling, retry.max_backoff))
        if not walk.allows_wait(now, delay):
            walk.note(route.name, None, "gave up", f"a {delay:.3g} s backoff passes the deadline")
            assert walk.last is not None
            raise walk.last
        await self.sleep(delay)
        return self.clock()

    def _available(
        self,
        route: ModelRoute,
        targets: Sequence[Target],
        now: float,
        tried: set[str] | None,
        walk: Walk,
    ) -> Sequence[Target]:
        """The deployments that may serve now, best first: without an open breaker or a failed
        health check; then not yet tried by this request; then not cooling down."""
        down = self.health.down
        guarded = route.breaker is not None and self.breakers.not_closed
        if not (down or guarded or tried or self.cooling):
            return targets
        if down or guarded:
            targets = [t for t in targets if self._may_serve(route, t, now, down, walk)]
        if tried:
            targets = [t for t in targets if t.key not in tried] or targets
        if self.cooling:
            warm = [t for t in targets if self._warm(t.key, now)]
            targets = warm or targets
        return targets

    def _may_serve(
        self, route: ModelRoute, t: Target, now: float, down: set[str], walk: Walk
    ) -> bool:
        if down and t.provider.name in down:
            walk.note(route.name, t.key, "skipped", "failing its health check")
            return False
        if (route.name, t.key) in self.breakers.not_closed:
            breaker = self.breakers.find(route.name, t.key)
            if breaker is not None and not self.breakers.allows(breaker, now):
                walk.note(route.name, t.key, "skipped", f"circuit breaker {breaker.state}")
                return False
        return True

    def _warm(self, key: str, now: float) -> bool:
        until = self.cooling.get(key)
        if until is None:
            return True
        if until <= now:
            del self.cooling[key]
            return True
        return False

    def _failed(
        self,
        route: ModelRoute,
        target: Target,
        stats: DeploymentStats,
        breaker: Breaker | None,
        probe: bool,
        err: UpstreamError,
        walk: Walk,
    ) -> None:
        now = self.clock()
        stats.in_flight -= 1
        walk.last = err
        failure = is_failure(err, route.retry_on)
        if failure:
            stats.failed(now, err.message)
        else:  # the deployment answered; the request was at fault
            stats.window.add(now, ok=1)
        if isinstance(err, UpstreamStatusError) and err.retry_after:
            stats.cool_down(now, err.retry_after)
            self.cooling[target.key] = stats.cooldown_until
        if breaker is not None:
            self.breakers.record(breaker, now, not failure, probe)
        walk.note(route.name, target.key, "failed", err.message)

    def _served(
        self,
        ctx: RequestContext,
        route: ModelRoute,
        target: Target,
        stats: DeploymentStats,
        breaker: Breaker | None,
        probe: bool,
        started: float,
        walk: Walk,
    ) -> None:
        now = self.clock()
        headers = ctx.response_headers
        headers.append(route.model_header)
        headers.append(FALLBACK_NO if route is walk.first else FALLBACK_YES)
        if walk.streaming:  # settled in stream_ended
            stats.first_token(now - started)
            walk.trace().pending = PendingStream(route, target, breaker, probe, started)
            return
        stats.in_flight -= 1
        stats.succeeded(now, now - started)
        if breaker is not None:
            self.breakers.record(breaker, now, True, probe)

    def stream_ended(self, ctx: RequestContext) -> None:
        """Settle a stream's attempt (call once, in a ``finally``, after the relay): an
        upstream failure after the first token counts against the deployment; a stream the
        client abandoned counts as neither success nor failure."""
        trace = ctx.routing
        pending = trace.pending if trace is not None else None
        if trace is None or pending is None:
            return
        trace.pending = None
        now = self.clock()
        stats = self.balancer.stats_for(pending.target.key)
        stats.in_flight -= 1
        err = ctx.error
        ok: bool | None
        if isinstance(err, UpstreamError):
            ok = not is_failure(err, pending.route.retry_on)
            if not ok:
                stats.failed(now, err.message)
            trace.add(pending.route.name, pending.target.key, "stream failed", err.message)
        elif err is None and not ctx.client_disconnected:
            ok = True
            stats.succeeded(now, now - pending.started)
        else:
            ok = None
        if pending.breaker is not None:
            self.breakers.record(pending.breaker, now, ok, pending.probe)

    def deployments(self, runtime: Runtime) -> list[DeploymentRow]:
        """Every deployment's state, for the admin API and the CLI."""
        return deployment_rows(runtime, self.breakers, self.health, self.balancer, self.clock())

    @staticmethod
    def _retryable(err: UpstreamError, route: ModelRoute) -> bool:
        if isinstance(err, UpstreamStatusError):
            return err.upstream_status in route.retry_on
        return err.may_retry
