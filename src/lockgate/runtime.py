"""A loaded config compiled into what the hot path reads: no parsing or lookups per request.

A ``Runtime`` is immutable once built; a reload builds a new one and swaps it in, so requests
in flight finish on the one they started with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lockgate.apis.catalog import config_index
from lockgate.config.models import (
    CircuitBreakerConfig,
    Config,
    Deployment,
    ModelConfig,
    Price,
    RetryConfig,
)
from lockgate.limits.spec import LimitSet
from lockgate.pipeline.runner import Pipeline
from lockgate.providers.base import Provider
from lockgate.providers.prices import price_table
from lockgate.providers.registry import build_provider
from lockgate.upstream import Timeouts, UpstreamClient

if TYPE_CHECKING:
    from lockgate.identity.principal import Principal
    from lockgate.services import Services

ALL = "*"
UNPRICED = Price()


@dataclass(frozen=True, slots=True)
class Target:
    key: str  # "provider/model", stable across reloads for routing statistics
    provider: Provider
    model: str
    weight: float
    region: str | None
    price: Price
    priced: bool = True  # False: no price in the config nor in the shipped table
    priority: int = 1  # tier: a higher number serves only while every lower one is unavailable


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    kind: str | None  # None: serves the route it is called on (chat or embeddings)
    targets: tuple[Target, ...]
    routing: str
    price: Price
    retry: RetryConfig
    retry_on: frozenset[int]
    timeouts: Timeouts
    fallbacks: tuple[str, ...]
    default_max_tokens: int
    max_in_flight: int | None = None
    queue_timeout: float = 10.0
    breaker: CircuitBreakerConfig | None = None
    context_window: int | None = None
    tiered: bool = False  # deployments declare more than one priority tier
    # The response header naming this model when it served, encoded once.
    model_header: tuple[bytes, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_header", (b"x-lockgate-model", self.name.encode()))

    @property
    def priced(self) -> bool:
        return all(t.priced for t in self.targets)


def _target(config: Config, m: ModelConfig, d: Deployment, provider: Provider) -> Target:
    price = d.price or m.price or price_table().lookup(config.providers[d.provider].type, d.model)
    return Target(
        key=f"{d.provider}/{d.model}",
        provider=provider,
        model=d.model,
        weight=d.weight,
        region=d.region or provider.region,
        price=price or UNPRICED,
        priced=price is not None,
        priority=d.priority,
    )


def _route(config: Config, name: str, providers: dict[str, Provider]) -> ModelRoute:
    m = config.models[name]
    targets = tuple(_target(config, m, d, providers[d.provider]) for d in m.deployments)
    t = m.timeout
    return ModelRoute(
        name=name,
        kind=m.kind,
        targets=targets,
        routing=m.routing,
        price=max((t.price for t in targets), key=_reserve_rate),
        retry=m.retry,
        retry_on=frozenset(m.retry.on),
        timeouts=Timeouts(connect=t.connect, first_byte=t.first_token, idle=t.idle, total=t.total),
        fallbacks=tuple(m.fallbacks),
        default_max_tokens=m.default_max_tokens,
        max_in_flight=m.max_in_flight,
        queue_timeout=m.queue_timeout,
        breaker=m.circuit_breaker,
        context_window=m.context_window,
        tiered=len({d.priority for d in m.deployments}) > 1,
    )


def _reserve_rate(price: Price) -> float:
    return max(price.input, price.cache_write or 0.0) + price.output


class Runtime:
    """One config load, compiled: providers, model routes, plans, and the policy pipeline."""

    def __init__(
        self, config: Config, client: UpstreamClient, services: Services | None = None
    ) -> None:
        from lockgate.policies import build_policies
        from lockgate.services import Services

        self.config = config
        self.services = services or Services()
        self.providers: dict[str, Provider] = {
            name: build_provider(name, p, client) for name, p in config.providers.items()
        }
        self.models: dict[str, ModelRoute] = {
            name: _route(config, name, self.providers) for name in config.models
        }
        self._all = frozenset(self.models)
        self._plans = {name: self._expand(p.models) for name, p in config.plans.items()}
        self._roles = {name: self._expand(r.models) for name, r in config.roles.items()}
        self._allowed: dict[tuple[str | None, tuple[str, ...]], frozenset[str]] = {}
        self.limits = LimitSet(config)
        self.apis = config_index(config.apis, now=self.services.clock())  # API products
        self.pipeline = Pipeline(build_policies(self))

    def _expand(self, names: Iterable[str]) -> frozenset[str]:
        names = list(names)
        return self._all if ALL in names else frozenset(n for n in names if n in self.models)

    def allowed_models(self, plan: str | None, roles: tuple[str, ...]) -> frozenset[str]:
        """Models a principal may call: its plan's, narrowed to its roles' when it has roles.

        No plan (and no ``default_plan``) means every configured model.
        """
        key = (plan, roles)
        cached = self._allowed.get(key)
        if cached is not None:
            return cached
        effective = plan or self.config.default_plan
        allowed = self._plans.get(effective, frozenset()) if effective else self._all
        known_roles = [self._roles[r] for r in roles if r in self._roles]
        if known_roles:
            allowed = allowed & frozenset().union(*known_roles)
        self._allowed[key] = allowed
        return allowed

    def allowed_for(self, principal: Principal | None) -> frozenset[str]:
        if principal is None:
            return frozenset()
        return self.allowed_models(principal.plan, tuple(principal.roles))

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        for policy in self.pipeline.policies:
            close = getattr(policy, "aclose", None)
            if close is not None:
                await close()
