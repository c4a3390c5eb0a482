"""Conditional routing and canaries: ``policies:`` with a ``route:``, compiled once per load.

```yaml
policies:
  - name: long-prompts
    match: {models: [gpt-4o-mini]}
    route: {when: 'request.tokens > 100000', model: gemini-long}
  - name: finance-in-eu
    match: {models: [gpt-4o-mini]}
    route: {when: 'principal.attributes.department == "finance"',
            deployments: [azure-eu/gpt-4o-mini]}
  - name: canary
    match: {models: [gpt-4o]}
    route: {split: [{model: gpt-4o, weight: 90}, {model: gpt-4.1, weight: 10}], sticky: key}
```

A route rule applies to a request when its ``match`` covers it (tenants, apps, models,
routes, ips, as for access rules) and its ``when`` condition (CEL over ``principal`` and
``request``: headers, attributes, estimated tokens, time...) is true; the first rule that
applies decides where the request is served:

- ``model``: that model serves (its deployments, strategy, retries, fallbacks and price);
- ``deployments``: only those ``provider/model`` deployments of the requested model serve;
- ``split``: one of the models, by weight, the same one for the same ``sticky`` subject (the
  key by default; or its app, tenant, user) for as long as the weights stay: a canary.

The caller still decides what may serve it: a chosen model outside the caller's plan or roles,
or one that does not serve the route called, is passed over (the next rule may apply), and the
router applies residency and the fallbacks' own checks as for any request. A condition that
cannot be evaluated (a missing attribute) does not route. Each decision is noted in
``ctx.routing``; the response names the model that served.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lockgate.conditions import EvaluationError
from lockgate.identity.iprules import Address, networks, parse_ip
from lockgate.routing.trace import RouteTrace
from lockgate.runtime import ModelRoute

if TYPE_CHECKING:
    from lockgate.config.models import Config, PolicyRule, RouteSpec
    from lockgate.identity.principal import Principal
    from lockgate.pipeline.context import RequestContext
    from lockgate.policies.rules import Bound, Rule

SCALE = float(1 << 32)


def _subject_of(sticky: str) -> Callable[[Principal], str]:
    if sticky == "app":
        return lambda p: p.app_id
    if sticky == "tenant":
        return lambda p: p.tenant_name
    if sticky == "user":
        return lambda p: p.user or p.key_id or p.app_id
    return lambda p: p.key_id or p.user or p.app_id


@dataclass(frozen=True, slots=True)
class RouteRule:
    name: str
    match: Rule  # the match part only (no IP lists, no conditions of its own)
    when: Bound | None
    model: ModelRoute | None  # route: model
    restricted: Mapping[str, ModelRoute]  # route: deployments, per matched model
    shares: tuple[tuple[float, ModelRoute], ...]  # route: split; upper bounds in (0, 1]
    subject: Callable[[Principal], str]  # whose choice a split remembers

    def applies(self, ctx: RequestContext) -> bool:
        address: Address | None = None
        if self.match.ips is not None:
            address = parse_ip(ctx.client_ip)
        if not self.match.applies(ctx, address):
            return False
        if self.when is None:
            return True
        try:
            return self.when.evaluate(ctx)
        except EvaluationError as exc:
            _note(ctx, "not routed", f"policy '{self.name}': its condition failed ({exc})")
            return False

    def target(self, ctx: RequestContext, current: ModelRoute) -> ModelRoute | None:
        if self.model is not None:
            return self.model
        if self.restricted:
            return self.restricted.get(current.name)
        principal = ctx.principal
        if principal is None:
            return None
        point = zlib.crc32(f"{self.name}\0{self.subject(principal)}".encode()) / SCALE
        for bound, route in self.shares:
            if point < bound:
                return route
        return self.shares[-1][1]


def _note(ctx: RequestContext, outcome: str, detail: str) -> None:
    trace = ctx.routing
    if trace is None:
        trace = ctx.routing = RouteTrace()
    model = ctx.model_route.name if ctx.model_route is not None else (ctx.model or "")
    trace.add(model, None, outcome, detail)


def choose(rules: tuple[RouteRule, ...], ctx: RequestContext) -> ModelRoute | None:
    """The route the first applying rule gives this request (None: route as asked)."""
    current = ctx.model_route
    if current is None:
        return None
    for rule in rules:
        if not rule.applies(ctx):
            continue
        chosen = rule.target(ctx, current)
        if chosen is None or chosen is current:
            return None
        wanted = "embedding" if ctx.route == "embeddings" else "chat"
        if chosen.kind is not None and chosen.kind != wanted:
            _note(ctx, "not routed", f"policy '{rule.name}': '{chosen.name}' serves no {wanted}")
            continue
        if chosen.name != current.name and chosen.name not in ctx.runtime.allowed_for(
            ctx.principal
        ):
            _note(
                ctx, "not routed", f"policy '{rule.name}': '{chosen.name}' is not for this caller"
            )
            continue
        _note(ctx, "routed", f"to {_describe(chosen, current)} by policy '{rule.name}'")
        return chosen
    return None


def _describe(chosen: ModelRoute, current: ModelRoute) -> str:
    if chosen.name == current.name:
        return "deployments " + ", ".join(t.key for t in chosen.targets)
    return f"model '{chosen.name}'"


# --- compiled once per config load ------------------------------------------------------------


def compile_routes(config: Config, models: Mapping[str, ModelRoute]) -> tuple[RouteRule, ...]:
    return tuple(
        _compile(rule, rule.route, models) for rule in config.policies if rule.route is not None
    )


def _compile(rule: PolicyRule, spec: RouteSpec, models: Mapping[str, ModelRoute]) -> RouteRule:
    # The access rules' match and condition binding; imported here, as the policies package
    # (which builds this rule set) imports this module.
    from lockgate.policies.rules import Rule, bind

    m = rule.match
    matched = frozenset(m.models) if m and m.models else None
    match = Rule(
        name=rule.name,
        tenants=frozenset(m.tenants) if m and m.tenants else None,
        apps=frozenset(m.apps) if m and m.apps else None,
        models=matched,
        routes=frozenset(m.routes) if m and m.routes else None,
        ips=networks(m.ips) if m and m.ips else None,
        ip_rule=None,
        deny_if=None,
        allow_if=None,
    )
    restricted: dict[str, ModelRoute] = {}
    if spec.deployments:
        keep = set(spec.deployments)
        for name in sorted(matched or ()):
            route = models[name]
            targets = tuple(t for t in route.targets if t.key in keep)
            tiered = len({t.priority for t in targets}) > 1
            restricted[name] = replace(route, targets=targets, tiered=tiered)
    total = sum(s.weight for s in spec.split)
    shares: list[tuple[float, ModelRoute]] = []
    running = 0.0
    for share in spec.split:
        running += share.weight
        shares.append((running / total, models[share.model]))
    return RouteRule(
        name=rule.name,
        match=match,
        when=bind(spec.when) if spec.when else None,
        model=models[spec.model] if spec.model else None,
        restricted=restricted,
        shares=tuple(shares),
        subject=_subject_of(spec.sticky),
    )
