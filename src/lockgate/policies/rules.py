"""Access rules of the config's ``policies:``: ``match``, ``deny_ips`` / ``allow_ips``,
``deny_if`` / ``allow_if``, compiled once per config load.

A rule applies to a request when every list of its ``match`` that is given contains the
request's value (tenants, apps, models, routes, ips); a rule without ``match`` applies to
every request. An applying rule refuses the request (403, naming the rule) when the client
address is in ``deny_ips``, or outside ``allow_ips``, when ``deny_if`` is true, or when
``allow_if`` is not true. A condition that cannot be evaluated (a missing attribute, a type
mismatch) refuses too: a broken rule fails closed.

IP lists of rules that do not match on models or routes are checked in the authentication
phase (``RuleSet.early``), so they also guard ``GET /v1/models``; everything else is checked
once the model is known (``RuleSet.late``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.conditions import Condition, EvaluationError, compile_condition
from lockgate.errors import PermissionDenied
from lockgate.identity.iprules import Address, IpRule, Networks, ip_rule, networks

from . import values

if TYPE_CHECKING:
    from lockgate.config.models import PolicyRule
    from lockgate.pipeline.context import RequestContext

SCHEMA = values.FIELDS


def check_condition(source: str) -> None:
    """Raise ``ConditionError`` (a ``ValueError``) when ``source`` is not a valid condition;
    the config loader reports it with the line of the expression."""
    compile_condition(source, SCHEMA)


@dataclass(frozen=True, slots=True)
class Bound:
    """A condition with the functions that compute, per request, the fields it reads."""

    condition: Condition
    getters: tuple[Callable[[RequestContext], Any], ...]

    def evaluate(self, ctx: RequestContext) -> bool:
        return self.condition.evaluate([get(ctx) for get in self.getters])


def bind(source: str) -> Bound:
    condition = compile_condition(source, SCHEMA)
    return Bound(condition, tuple(values.getter(root, f) for root, f in condition.fields))


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    tenants: frozenset[str] | None
    apps: frozenset[str] | None  # "app" and "tenant/app"
    models: frozenset[str] | None
    routes: frozenset[str] | None
    ips: Networks | None
    ip_rule: IpRule | None
    deny_if: Bound | None
    allow_if: Bound | None

    @property
    def early(self) -> bool:
        """Decidable before the body is read: no model or route in ``match``."""
        return self.models is None and self.routes is None

    def applies(self, ctx: RequestContext, address: Address | None) -> bool:
        p = ctx.principal
        if p is None:
            return False
        if self.tenants is not None and p.tenant_name not in self.tenants:
            return False
        if self.apps is not None and not (
            p.app_name in self.apps or f"{p.tenant_name}/{p.app_name}" in self.apps
        ):
            return False
        if self.models is not None and ctx.model not in self.models:
            return False
        if self.routes is not None and values.operation(ctx) not in self.routes:
            return False
        return self.ips is None or (address is not None and address in self.ips)

    def refusal(self, ctx: RequestContext, address: Address | None, *, ips: bool) -> str | None:
        if ips and self.ip_rule is not None:
            reason = self.ip_rule.refusal(address)
            if reason is not None:
                return reason
        try:
            if self.deny_if is not None and self.deny_if.evaluate(ctx):
                return f"policy '{self.name}' denies this request (deny_if matched)"
            if self.allow_if is not None and not self.allow_if.evaluate(ctx):
                return f"policy '{self.name}' does not allow this request (allow_if not met)"
        except EvaluationError as exc:
            return f"policy '{self.name}' could not evaluate its condition ({exc})"
        return None


def compile_rule(rule: PolicyRule) -> Rule | None:
    """The access part of a rule; None when it has none (a rule of limits only)."""
    owner = f"policy '{rule.name}'"
    ips = ip_rule(owner, rule.allow_ips, rule.deny_ips)
    if ips is None and rule.allow_if is None and rule.deny_if is None:
        return None
    m = rule.match
    return Rule(
        name=rule.name,
        tenants=frozenset(m.tenants) if m and m.tenants else None,
        apps=frozenset(m.apps) if m and m.apps else None,
        models=frozenset(m.models) if m and m.models else None,
        routes=frozenset(m.routes) if m and m.routes else None,
        ips=networks(m.ips) if m and m.ips else None,
        ip_rule=ips,
        deny_if=bind(rule.deny_if) if rule.deny_if else None,
        allow_if=bind(rule.allow_if) if rule.allow_if else None,
    )


def refuse(reason: str) -> PermissionDenied:
    return PermissionDenied(f"access denied: {reason}", code="policy_denied")
