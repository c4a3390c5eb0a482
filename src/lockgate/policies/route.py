"""Conditional routing and canaries as a policy: the first ``route:`` rule that applies sets
the route the request is served by (``routing/rules.py``).

It runs in the authorization phase after model access (which resolved the requested model's
route) and the access rules, and before limits and concurrency, so those reserve and queue on
the model that will serve.
"""

from __future__ import annotations

from typing import ClassVar

from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase
from lockgate.routing.rules import RouteRule, choose


class RoutePolicy:
    name: ClassVar[str] = "route"
    phase: ClassVar[Phase] = Phase.AUTHZ

    def __init__(self, rules: tuple[RouteRule, ...]) -> None:
        self._rules = rules

    async def on_request(self, ctx: RequestContext) -> None:
        chosen = choose(self._rules, ctx)
        if chosen is not None:
            ctx.model_route = chosen
