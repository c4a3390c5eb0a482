"""Limits compiled from a config load: what each limit counts, where, and for whom.

A ``LimitSpec`` is one configured limit with everything the hot path needs resolved: its
stable id (its YAML path, which also names its counters), the scope, the refill rate or the
calendar period, and amounts in integer-friendly units (cost in nano-USD, so every backend
adds the same numbers). ``LimitSet`` answers "which limits apply to this principal calling
this model", once per (principal shape, model) and cached for the life of the config load.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from lockgate.config.models import Config, Limit, PolicyMatch
from lockgate.config.paths import join_path
from lockgate.limits.periods import ROLLING_SECONDS

NANO_USD = 1e9  # cost counters count nano-dollars

# Subjects a plan can be attached to; a plan limit without ``scope`` counts per that subject.
PLAN_OWNERS = ("tenant", "app")


@dataclass(frozen=True, slots=True)
class LimitSpec:
    id: str  # YAML path, e.g. "plans.standard.limits[1]": how messages name it
    counter: str  # names its counters: stable across reloads that reorder or resize limits
    owner: str  # "plan 'standard'" | "policy 'flood'"
    measure: str  # requests | tokens | cost
    limit: float  # L in the measure's unit (cost: nano-USD)
    per: str
    rate: float  # refill per second (rolling); 0 for calendar periods
    capacity: float  # L + burst (rolling); L (calendar)
    scope: str  # key | app | tenant | user | ip | global
    each_model: bool
    tz: ZoneInfo | None
    alert_at: tuple[float, ...]
    fail_open: bool
    limit_header: bytes  # the limit as an x-ratelimit-limit-* value

    @property
    def calendar(self) -> bool:
        return self.rate == 0.0

    @property
    def tracked(self) -> bool:
        """Tokens and cost are reserved, then settled; a request count is final at once."""
        return self.measure != "requests"

    @property
    def quota(self) -> bool:
        """Calendar quotas and cost budgets answer ``insufficient_quota``; rates do not."""
        return self.calendar or self.measure == "cost"

    def amount_text(self, value: float | None = None) -> str:
        v = self.limit if value is None else value
        if self.measure == "cost":
            return f"${v / NANO_USD:,.2f}"
        return f"{v:,.0f} {self.measure}" if v != 1 or self.measure != "requests" else "1 request"

    def describe(self) -> str:
        scope = "" if self.scope == "global" else f" per {self.scope}"
        each = " and model" if self.each_model else ""
        return f"{self.owner} limit of {self.amount_text()} per {self.per}{scope}{each}"


def compile_limit(
    lim: Limit, at: str, owner: str, default_scope: str, taken: set[str]
) -> LimitSpec:
    scale = NANO_USD if lim.measure == "cost" else 1.0
    amount = lim.amount * scale
    window = ROLLING_SECONDS.get(lim.per)
    fail_open = (
        lim.on_state_error == "fail_open"
        if lim.on_state_error is not None
        else lim.measure != "cost"
    )
    scope = lim.scope or default_scope
    counter = ":".join(
        (
            owner.replace("'", "").replace(" ", ":"),
            lim.measure,
            lim.per,
            scope,
            lim.model or "",
            lim.tz or "",
        )
    )
    while counter in taken:  # two limits alike but for their amount: keep them apart
        counter += "+"
    taken.add(counter)
    return LimitSpec(
        id=at,
        counter=counter,
        owner=owner,
        measure=lim.measure,
        limit=amount,
        per=lim.per,
        rate=amount / window if window else 0.0,
        capacity=amount + (lim.burst * scale if window else 0.0),
        scope=scope,
        each_model=lim.model == "each",
        tz=ZoneInfo(lim.tz) if lim.tz else None,
        alert_at=tuple(sorted(lim.alert_at)),
        fail_open=fail_open,
        limit_header=str(int(amount)).encode(),
    )


class Applicable(NamedTuple):
    """The limits that apply to one principal shape calling one model."""

    specs: tuple[LimitSpec, ...]
    by_ip: bool  # some limit counts per client IP
    by_user: bool  # some limit counts per end user
    sized: bool  # some limit counts tokens or cost: the request must be measured


def _applicable(specs: tuple[LimitSpec, ...]) -> Applicable:
    return Applicable(
        specs,
        any(s.scope == "ip" for s in specs),
        any(s.scope == "user" for s in specs),
        any(s.tracked for s in specs),
    )


@dataclass(frozen=True, slots=True)
class _Rule:
    tenants: frozenset[str]
    apps: frozenset[str]  # app names, or "tenant/app"
    models: frozenset[str]
    operations: frozenset[str]  # chat | messages | embeddings | count_tokens
    specs: tuple[LimitSpec, ...]

    def applies(self, tenant: str, app: str, model: str, operation: str) -> bool:
        return (
            (not self.tenants or tenant in self.tenants)
            and (not self.apps or app in self.apps or f"{tenant}/{app}" in self.apps)
            and (not self.models or model in self.models)
            and (not self.operations or operation in self.operations)
        )


def _rule(match: PolicyMatch | None, specs: tuple[LimitSpec, ...]) -> _Rule:
    m = match or PolicyMatch()
    return _Rule(
        frozenset(m.tenants), frozenset(m.apps), frozenset(m.models), frozenset(m.routes), specs
    )


class LimitSet:
    """Every limit of a config load, and a cache of which apply to whom."""

    def __init__(self, config: Config) -> None:
        self._plans: dict[tuple[str, str], tuple[LimitSpec, ...]] = {}
        for name, plan in config.plans.items():
            base = join_path(join_path("plans", name), "limits")
            for owner in PLAN_OWNERS:
                taken: set[str] = set()
                self._plans[(name, owner)] = tuple(
                    compile_limit(lim, join_path(base, i), f"plan '{name}'", owner, taken)
                    for i, lim in enumerate(plan.limits)
                )
        rules = []
        taken = set()
        for i, rule in enumerate(config.policies):
            base = join_path(join_path("policies", i), "limits")
            specs = tuple(
                compile_limit(lim, join_path(base, j), f"policy '{rule.name}'", "tenant", taken)
                for j, lim in enumerate(rule.limits)
            )
            if specs:
                rules.append(_rule(rule.match, specs))
        self._rules = tuple(rules)
        self._default_plan = config.default_plan
        self._cache: dict[tuple[str | None, str, str, str, str, str], Applicable] = {}
        self._config_plans = config.plans
        self._subscriptions: dict[tuple[int, str, str], Applicable] = {}

    def __bool__(self) -> bool:
        return any(self._plans.values()) or bool(self._rules)

    def with_subscription(self, found: Applicable, api: str, plan: str) -> Applicable:
        """``found`` plus the limits of an API subscription's plan: counted per app (by
        default) and per API, so two subscriptions never share a counter."""
        key = (id(found), api, plan)
        combined = self._subscriptions.get(key)
        if combined is None:
            specs = list(found.specs)
            config = self._config_plans.get(plan)
            if config is not None:
                base = join_path(join_path("plans", plan), "limits")
                owner = f"plan '{plan}' of the subscription to API '{api}'"
                taken: set[str] = set()
                specs.extend(
                    compile_limit(lim, join_path(base, i), owner, "app", taken)
                    for i, lim in enumerate(config.limits)
                )
            combined = self._subscriptions[key] = _applicable(tuple(specs))
        return combined

    def all_specs(self) -> Iterable[LimitSpec]:
        seen: set[str] = set()
        for specs in (*self._plans.values(), *(r.specs for r in self._rules)):
            for spec in specs:
                if spec.id not in seen:
                    seen.add(spec.id)
                    yield spec

    def applicable(
        self,
        plan: str | None,
        plan_owner: str,
        tenant: str,
        app: str,
        model: str,
        operation: str = "",
    ) -> Applicable:
        """``operation`` is the request's route as policies name it (an Anthropic chat is
        ``messages``); "" matches only rules without ``match.routes`` (the admin report)."""
        key = (plan, plan_owner, tenant, app, model, operation)
        found = self._cache.get(key)
        if found is None:
            effective = plan or self._default_plan
            owner = plan_owner if plan else "tenant"
            specs = list(self._plans.get((effective, owner), ())) if effective else []
            for rule in self._rules:
                if rule.applies(tenant, app, model, operation):
                    specs.extend(rule.specs)
            found = self._cache[key] = _applicable(tuple(specs))
        return found
