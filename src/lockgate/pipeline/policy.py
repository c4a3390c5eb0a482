"""The policy contract and the runner.

Policies run once per client request, in phase order: ``on_request`` may reject by raising a
``GatewayError`` (the message names the policy); ``on_complete`` runs after the response was
sent, in reverse order and only for the policies whose ``on_request`` ran. Retries, fallbacks
and breakers are per attempt and live in ``lockgate.routing``.
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import ClassVar, Protocol

from lockgate.pipeline.context import RequestContext

log = logging.getLogger("lockgate.pipeline")


class Phase(IntEnum):
    AUTHN = 10
    AUTHZ = 20
    ADMIT = 30
    CACHE = 40
    GUARD = 50


class Policy(Protocol):
    name: ClassVar[str]
    phase: ClassVar[Phase]

    async def on_request(self, ctx: RequestContext) -> None: ...
    async def on_complete(self, ctx: RequestContext) -> None: ...


class Pipeline:
    __slots__ = ("_authn", "policies")

    def __init__(self, policies: list[Policy]) -> None:
        self.policies = tuple(sorted(policies, key=lambda p: p.phase))
        self._authn = sum(1 for p in self.policies if p.phase == Phase.AUTHN)

    async def authenticate(self, ctx: RequestContext) -> None:
        """The AUTHN phase alone: it runs before the body is read or decoded."""
        await self._run(ctx, self._authn)

    async def admit(self, ctx: RequestContext) -> None:
        """Every policy not yet run for this request."""
        await self._run(ctx, len(self.policies))

    async def _run(self, ctx: RequestContext, stop: int) -> None:
        policies = self.policies
        while ctx.policies_ran < stop:
            policy = policies[ctx.policies_ran]
            ctx.policies_ran += 1
            await policy.on_request(ctx)

    async def complete(self, ctx: RequestContext) -> None:
        for policy in reversed(self.policies[: ctx.policies_ran]):
            try:
                await policy.on_complete(ctx)
            except Exception:
                log.exception("policy %s failed in on_complete", policy.name)
