"""``max_in_flight``: bounds a model's concurrent calls; the rest queue by plan ``priority``.

The slot is held from admission until the response (streams included) is complete, and given
back by completion whatever ended the request. A request still waiting after the model's
``queue_timeout`` gets 429 naming the model's concurrency limit.
"""

from __future__ import annotations

from typing import ClassVar

from lockgate.config.models import Config
from lockgate.errors import RateLimited
from lockgate.limits.gate import PRIORITY, PriorityGate
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase

NORMAL = PRIORITY["normal"]


class ConcurrencyPolicy:
    name: ClassVar[str] = "concurrency"
    phase: ClassVar[Phase] = Phase.ADMIT

    def __init__(self, config: Config, gates: dict[str, PriorityGate]) -> None:
        self._gates = gates
        self._priority = {name: PRIORITY[p.priority] for name, p in config.plans.items()}
        self._default = self._priority.get(config.default_plan or "", NORMAL)
        for name, model in config.models.items():
            if model.max_in_flight is None:
                continue
            gate = gates.get(name)
            if gate is None:
                gates[name] = PriorityGate(model.max_in_flight)
            elif gate.capacity != model.max_in_flight:
                gate.resize(model.max_in_flight)

    async def on_request(self, ctx: RequestContext) -> PriorityGate | None:
        route = ctx.model_route
        if route is None or route.max_in_flight is None or ctx.route == "count_tokens":
            return None
        gate = self._gates[route.name]
        p = ctx.principal
        plan = p.plan if p is not None else None
        priority = self._priority.get(plan, self._default) if plan else self._default
        if not await gate.acquire(priority, route.queue_timeout):
            raise RateLimited(
                f"model '{route.name}' is at its concurrency limit (max_in_flight "
                f"{route.max_in_flight}); the request waited {route.queue_timeout:g}s in its "
                "queue (queue_timeout)",
                code="model_busy",
                headers={"retry-after": "1"},
            )
        return gate

    def on_complete(self, ctx: RequestContext, gate: PriorityGate) -> None:
        gate.release()
