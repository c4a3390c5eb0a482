"""``AccessRules``: the config's access rules once the model is known (AUTHZ phase).

Built only when some rule has a condition, or IP lists together with a model or route
``match`` (see rules.py for the semantics). The first rule that refuses answers 403 with a
message naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from lockgate.identity.iprules import Address, parse_ip
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase

from .rules import Rule, refuse


class AccessRules:
    name: ClassVar[str] = "access-rules"
    phase: ClassVar[Phase] = Phase.AUTHZ

    def __init__(
        self, rules: tuple[Rule, ...], addresses: Callable[[str], Address | None] = parse_ip
    ) -> None:
        self._rules = rules
        self._addresses = addresses
        # Only rules that match on, or check, the address need it parsed.
        self._by_ip = any(r.ips is not None or (r.ip_rule and not r.early) for r in rules)

    async def on_request(self, ctx: RequestContext) -> None:
        address = self._addresses(ctx.client_ip) if self._by_ip else None
        for rule in self._rules:
            if rule.applies(ctx, address):
                reason = rule.refusal(ctx, address, ips=not rule.early)
                if reason is not None:
                    raise refuse(reason)
