"""A loaded config compiled into what the hot path reads: no parsing or lookups per request.

A ``Runtime`` is immutable once built; a reload builds a new one and swaps it in, so requests
in flight finish on the one they started with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lockgate.config.models import Config, ModelConfig, Price, RetryConfig
from lockgate.providers.base import Provider
from lockgate.providers.registry import build_provider
from lockgate.upstream import Timeouts, UpstreamClient

ALL = "*"


@dataclass(frozen=True, slots=True)
class Target:
    key: str  # "provider/model", stable across reloads for routing statistics
    provider: Provider
    model: str
    weight: float
    region: str | None
    price: Price


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    kind: str
    targets: tuple[Target, ...]
    routing: str
    price: Price
    retry: RetryConfig
    retry_on: frozenset[int]
    timeouts: Timeouts
    fallbacks: tuple[str, ...]
    default_max_tokens: int


def _route(name: str, m: ModelConfig, providers: dict[str, Provider]) -> ModelRoute:
    targets = tuple(
        Target(
            key=f"{d.provider}/{d.model}",
            provider=providers[d.provider],
            model=d.model,
            weight=d.weight,
            region=d.region or providers[d.provider].region,
            price=d.price or m.price,
        )
        for d in m.deployments
    )
    t = m.timeout
    return ModelRoute(
        name=name,
        kind=m.kind,
        targets=targets,
        routing=m.routing,
        price=m.price,
        retry=m.retry,
        retry_on=frozenset(m.retry.on),
        timeouts=Timeouts(connect=t.connect, first_byte=t.first_token, idle=t.idle, total=t.total),
        fallbacks=tuple(m.fallbacks),
        default_max_tokens=m.default_max_tokens,
    )


class Runtime:
    def __init__(self, config: Config, client: UpstreamClient) -> None:
        self.config = config
        self.providers: dict[str, Provider] = {
            name: build_provider(name, p, client) for name, p in config.providers.items()
        }
        self.models: dict[str, ModelRoute] = {
            name: _route(name, m, self.providers) for name, m in config.models.items()
        }
        self._all = frozenset(self.models)
        self._plans = {name: self._expand(p.models) for name, p in config.plans.items()}
        self._roles = {name: self._expand(r.models) for name, r in config.roles.items()}
        self._allowed: dict[tuple[str | None, tuple[str, ...]], frozenset[str]] = {}

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

    def allowed_for(self, principal: Any) -> frozenset[str]:
        if principal is None:
            return frozenset()
        return self.allowed_models(principal.plan, tuple(principal.roles))

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
