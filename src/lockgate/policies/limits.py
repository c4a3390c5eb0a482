"""Request, token and cost limits: reserve before the call, settle to real usage after it.

For each chat or embeddings request, every limit that applies (the principal's plan, policies
whose ``match`` covers it) becomes a ``Check``: the counter it touches (named by limit, scope
value, model when ``model: each``, and calendar period) and what the request reserves — one
request; prompt tokens plus ``max_tokens`` (or the model's default output estimate); their
cost at the model's price. All checks are admitted or refused together by the counter backend
in one step. The reservation is this policy's per-request state; completion settles it to
the provider-reported (or counted) usage and the real cost, or gives it back when nothing
was produced.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from lockgate.errors import GatewayError, QuotaExceeded, RateLimited, ServiceUnavailable
from lockgate.identity.principal import Principal
from lockgate.limits.counters import NEVER, Check, Counters, Decision, StateUnavailable
from lockgate.limits.headers import duration, rate_headers
from lockgate.limits.keys import Subject, counter_base
from lockgate.limits.periods import PeriodCache
from lockgate.limits.spec import NANO_USD, Applicable, LimitSet
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase
from lockgate.policies.values import operation
from lockgate.runtime import ModelRoute
from lockgate.usage.cost import tokens_cost
from lockgate.usage.tokenizer import count
from lockgate.usage.tokens import estimate_request

log = logging.getLogger("lockgate.limits")

RESERVATION_GRACE = 60.0  # seconds a reservation outlives the request's own deadline
LIMITED_ROUTES = frozenset({"chat", "embeddings"})
KEY_CACHE_SIZE = 100_000  # callers x models whose counter keys are kept


@dataclass(frozen=True, slots=True)
class Reservation:
    checks: tuple[Check, ...]


class LimitsPolicy:
    name: ClassVar[str] = "limits"
    phase: ClassVar[Phase] = Phase.ADMIT

    def __init__(
        self,
        limits: LimitSet,
        counters: Counters,
        *,
        clock: Callable[[], float],
        prefix: str = "lg:",
    ) -> None:
        self._limits = limits
        self._counters = counters
        self._clock = clock
        self._prefix = prefix
        self._periods = PeriodCache()
        self._key_cache: dict[tuple[object, ...], tuple[tuple[str, str], ...]] = {}
        self.fail_open_admits = 0

    # --- admission -------------------------------------------------------------------------

    async def on_request(self, ctx: RequestContext) -> Reservation | None:
        p, route = ctx.principal, ctx.model_route
        if ctx.route not in LIMITED_ROUTES or p is None or route is None:
            return None
        found = self._limits.applicable(
            p.plan, p.plan_owner, p.tenant_name, p.app_name, route.name, operation(ctx)
        )
        if ctx.api_plan is not None and ctx.api is not None:
            found = self._limits.with_subscription(found, ctx.api, ctx.api_plan)
        if not found.specs:
            return None
        now = self._clock()
        checks = self.checks(ctx, p, route, found, now)
        expires = now + route.timeouts.total + route.queue_timeout + RESERVATION_GRACE
        try:
            decision = await self._counters.admit(checks, now, ctx.request_id, expires)
        except StateUnavailable:
            self._unavailable(checks)
            return None  # admitted uncounted (fail_open): nothing to settle
        headers = rate_headers(checks, decision.outcomes, now, ctx.ingress == "anthropic")
        if not decision.admitted:
            raise self._refusal(checks, decision, headers)
        ctx.response_headers.extend(headers)
        return Reservation(checks)

    def checks(
        self,
        ctx: RequestContext,
        p: Principal,
        route: ModelRoute,
        found: Applicable,
        now: float,
    ) -> tuple[Check, ...]:
        tokens = cost = 0.0
        if found.sized:
            prompt, output = self._sizes(ctx, route)
            tokens = float(prompt + output)
            cost = round(tokens_cost(prompt, output, route.price) * NANO_USD)
        bases = self._bases(ctx, p, route.name, found)
        periods = self._periods
        out = []
        for spec, (base, tag) in zip(found.specs, bases, strict=True):
            measure = spec.measure
            amount = 1.0 if measure == "requests" else tokens if measure == "tokens" else cost
            if spec.rate:
                out.append(Check(spec, base, tag, amount, 0.0))
            else:
                period, reset_at = periods.period(spec.per, spec.tz, now)
                out.append(Check(spec, base + ":" + period, tag, amount, reset_at))
        return tuple(out)

    def _bases(
        self, ctx: RequestContext, p: Principal, model: str, found: Applicable
    ) -> tuple[tuple[str, str], ...]:
        """Each limit's counter key (without its period) for this caller: computed once per
        caller, model, and (only when a limit counts per IP or user) IP or user."""
        ip = ctx.client_ip if found.by_ip else ""
        user = ""
        if found.by_user:
            user = p.user or (ctx.chat.user if ctx.chat is not None else None) or ""
        ident = (p.tenant_name, p.app_id, p.key_id, model, ip, user, id(found))
        bases = self._key_cache.get(ident)
        if bases is None:
            if len(self._key_cache) >= KEY_CACHE_SIZE:
                self._key_cache.clear()
            key = p.key_id or p.app_id
            who = Subject(p.tenant_name, p.app_id, key, user or key, ip)
            bases = tuple(counter_base(s, who, model, self._prefix) for s in found.specs)
            self._key_cache[ident] = bases
        return bases

    def _sizes(self, ctx: RequestContext, route: ModelRoute) -> tuple[int, int]:
        """(prompt tokens, most output tokens) of the request, counted once per request."""
        if ctx.chat is not None:
            if ctx.prompt_estimate is None:
                ctx.prompt_estimate = estimate_request(ctx.chat)
            return ctx.prompt_estimate, ctx.chat.max_tokens or route.default_max_tokens
        if ctx.embedding is not None:
            if ctx.prompt_estimate is None:
                ctx.prompt_estimate = sum(count(text) for text in ctx.embedding.inputs)
            return ctx.prompt_estimate, 0
        return 0, 0

    def _refusal(
        self, checks: Sequence[Check], decision: Decision, headers: list[tuple[bytes, bytes]]
    ) -> GatewayError:
        """The refusing limit with the longest wait, in words a developer can act on."""
        i = max(
            (j for j, o in enumerate(decision.outcomes) if o.wait > 0),
            key=lambda j: decision.outcomes[j].wait,
        )
        check, outcome = checks[i], decision.outcomes[i]
        spec = check.spec
        if outcome.wait == NEVER:
            after = outcome.reset if spec.calendar else spec.capacity / spec.rate
            message = (
                f"{spec.describe()} ({spec.id}): this request needs "
                f"{spec.amount_text(check.amount)}, more than the limit allows at all"
                + ("; lower max_tokens or shorten the prompt" if spec.measure != "requests" else "")
            )
        else:
            after = outcome.wait
            message = (
                f"{spec.describe()} ({spec.id}) reached: this request needs "
                f"{spec.amount_text(check.amount)}, "
                f"{spec.amount_text(max(0.0, outcome.remaining))} left; "
                f"retry in {duration(after)}"
            )
        out = {k.decode(): v.decode() for k, v in headers}
        out["retry-after"] = str(max(1, math.ceil(after)))
        cls = QuotaExceeded if spec.quota else RateLimited
        return cls(message, headers=out)

    def _unavailable(self, checks: Sequence[Check]) -> None:
        closed = [c.spec for c in checks if not c.spec.fail_open]
        if closed:
            raise ServiceUnavailable(
                f"the limit state is unreachable and {closed[0].describe()} ({closed[0].id}) "
                "fails closed (on_state_error); retry shortly",
                headers={"retry-after": "1"},
            )
        self.fail_open_admits += 1

    # --- settlement ------------------------------------------------------------------------

    def on_complete(self, ctx: RequestContext, state: Reservation) -> None:
        usage, cost = ctx.usage, ctx.cost
        tokens = float(usage.total_tokens) if usage is not None else 0.0
        nano = round(cost * NANO_USD) if cost is not None else 0.0
        actuals = [
            tokens if c.spec.measure == "tokens" else nano if c.spec.measure == "cost" else 1.0
            for c in state.checks
        ]
        self._counters.settle(state.checks, actuals, self._clock(), ctx.request_id)
