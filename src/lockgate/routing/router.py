"""Attempts, retries and fallbacks for one client request.

For each model in ``[requested] + fallbacks`` the router makes up to ``1 + retry.attempts``
attempts, preferring a deployment not yet tried for this request; a retryable failure waits an
exponential, jittered backoff (at least the provider's ``retry-after`` when it sent one, never
more than ``max_backoff``). When a model's attempts are spent on errors that allow it, the next
fallback model is tried. The last error is raised when everything failed.

Residency: when the principal has a residency list, only deployments whose region is in it may
serve; if none of the chain can, the answer is 403 — never a silent move to another region.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lockgate.errors import (
    GatewayError,
    NoDeploymentAvailable,
    PermissionDenied,
    UpstreamError,
    UpstreamStatusError,
)
from lockgate.pipeline.context import RequestContext
from lockgate.routing.balance import Balancer
from lockgate.runtime import ModelRoute, Target

T = TypeVar("T")
# One attempt: returns the awaitable of the call (usually the provider coroutine itself, so
# no wrapper coroutine sits between the router and the provider on the hot path).
Attempt = Callable[[Target, ModelRoute], Awaitable[T]]


class Router:
    def __init__(
        self,
        *,
        balancer: Balancer | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.balancer = balancer or Balancer()
        self.sleep = sleep
        self.clock = clock

    def chain(self, ctx: RequestContext, first: ModelRoute) -> list[ModelRoute]:
        models = ctx.runtime.models
        chain = [first]
        for name in first.fallbacks:
            route = models.get(name)
            if route is not None and route.kind == first.kind and route not in chain:
                chain.append(route)
        return chain

    def _eligible(self, ctx: RequestContext, route: ModelRoute) -> list[Target]:
        residency = ctx.principal.residency if ctx.principal is not None else ()
        if not residency:
            return list(route.targets)
        return [t for t in route.targets if t.region in residency]

    async def run(self, ctx: RequestContext, first: ModelRoute, attempt: Attempt[T]) -> T:
        last: GatewayError | None = None
        any_eligible = False
        for route in self.chain(ctx, first):
            targets = self._eligible(ctx, route)
            if not targets:
                continue
            any_eligible = True
            try:
                return await self._run_route(ctx, route, targets, attempt)
            except GatewayError as err:
                last = err
                if not err.may_fall_back:
                    raise
        if not any_eligible:
            regions = ctx.principal.residency if ctx.principal is not None else ()
            raise PermissionDenied(
                f"residency policy: no deployment of model '{first.name}' is in an allowed "
                f"region ({', '.join(regions)})",
                code="residency_denied",
            )
        assert last is not None
        raise last

    async def _run_route(
        self, ctx: RequestContext, route: ModelRoute, targets: list[Target], attempt: Attempt[T]
    ) -> T:
        tried: set[str] = set()
        retry = route.retry
        for n in range(retry.attempts + 1):
            fresh = [t for t in targets if t.key not in tried] or targets
            target = self.balancer.pick(route.routing, route.name, fresh)
            tried.add(target.key)
            ctx.attempts += 1
            ctx.target = target
            ctx.served_model = route.name
            started = self.clock()
            self.balancer.started(target)
            try:
                result = await attempt(target, route)
            except UpstreamError as err:
                self.balancer.finished(target, None)
                if n >= retry.attempts or not self._retryable(err, route):
                    raise
                await self.sleep(self._backoff(route, n, err))
                continue
            except BaseException:
                self.balancer.finished(target, None)
                raise
            self.balancer.finished(target, self.clock() - started)
            return result
        raise NoDeploymentAvailable(f"model '{route.name}': no deployment could be tried")

    @staticmethod
    def _retryable(err: UpstreamError, route: ModelRoute) -> bool:
        if isinstance(err, UpstreamStatusError):
            return err.upstream_status in route.retry_on
        return err.may_retry

    def _backoff(self, route: ModelRoute, n: int, err: UpstreamError) -> float:
        retry = route.retry
        delay = min(retry.max_backoff, retry.backoff * (2**n))
        delay *= 0.5 + 0.5 * self.balancer.rng.random()
        after = err.retry_after if isinstance(err, UpstreamStatusError) else None
        if after:
            delay = max(delay, min(after, retry.max_backoff))
        return float(delay)
