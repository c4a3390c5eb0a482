"""Cost limits need prices: a budget over a model with no known price would count $0.

Refused at load: a ``cost`` limit that applies to a model one of whose deployments has no
``price:`` in the config and no entry in the shipped price table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lockgate.config.models import Config, Limit
from lockgate.config.paths import join_path
from lockgate.providers.prices import price_table


def unpriced_models(cfg: Config) -> set[str]:
    table = price_table()
    out = set()
    for name, model in cfg.models.items():
        for d in model.deployments:
            priced = d.price or model.price
            provider = cfg.providers.get(d.provider)
            if priced is None and (
                provider is None or table.lookup(provider.type, d.model) is None
            ):
                out.add(name)
    return out


def _cost_limits(limits: Iterable[Limit], base: str) -> Iterator[str]:
    for i, lim in enumerate(limits):
        if lim.cost is not None:
            yield join_path(base, i)


def unpriced_cost_limits(cfg: Config) -> Iterator[tuple[str, str]]:
    """(YAML path of a cost limit, problem) for each cost limit over an unpriced model."""
    unpriced = unpriced_models(cfg)
    if not unpriced:
        return
    for name, plan in cfg.plans.items():
        models = set(cfg.models) if "*" in plan.models else set(plan.models)
        hit = sorted(models & unpriced)
        for at in _cost_limits(plan.limits, join_path(join_path("plans", name), "limits")):
            if hit:
                yield at, _message(hit)
    for i, rule in enumerate(cfg.policies):
        models = set(rule.match.models) if rule.match and rule.match.models else set(cfg.models)
        hit = sorted(models & unpriced)
        for at in _cost_limits(rule.limits, join_path(join_path("policies", i), "limits")):
            if hit:
                yield at, _message(hit)


def _message(models: list[str]) -> str:
    named = ", ".join(f"'{m}'" for m in models[:5])
    return (
        f"a cost limit over model(s) {named} with no known price: give the model a price: "
        "(USD per 1M tokens) so its calls are not counted as $0"
    )
