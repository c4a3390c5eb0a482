"""Policies applied to every data-plane request, one module each.

``build_policies`` is the one place that decides which policies a config load runs; a
policy whose config section is empty is not built, so it costs nothing per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.apis.policy import SubscriptionCheck
from lockgate.identity.iprules import AddressCache, networks
from lockgate.pipeline.policy import Policy
from lockgate.policies.access import ModelAccess
from lockgate.policies.authn import Authn
from lockgate.policies.concurrency import ConcurrencyPolicy
from lockgate.policies.conditions import AccessRules
from lockgate.policies.guarded import guard_and_cache_policies
from lockgate.policies.ip import ClientAddress, IpAccess
from lockgate.policies.jwt import JwtAuthenticator
from lockgate.policies.limits import LimitsPolicy
from lockgate.policies.mtls import MtlsAuthenticator
from lockgate.policies.payloads import PayloadCapture
from lockgate.policies.route import RoutePolicy
from lockgate.policies.rules import compile_rule
from lockgate.routing.rules import compile_routes

if TYPE_CHECKING:
    from lockgate.runtime import Runtime


def build_policies(runtime: Runtime) -> list[Policy]:
    services = runtime.services
    config = runtime.config
    policies: list[Policy] = []
    addresses = AddressCache()  # client addresses parsed once, shared by the IP checks
    if config.server.trusted_proxies:
        policies.append(ClientAddress(networks(config.server.trusted_proxies), addresses))
    jwt = JwtAuthenticator(config.auth.jwt, clock=services.clock) if config.auth.jwt else None
    mtls = MtlsAuthenticator(config.auth.mtls) if config.auth.mtls is not None else None
    policies.append(Authn(services.keys, jwt=jwt, mtls=mtls, addresses=addresses))
    rules = tuple(r for r in map(compile_rule, config.policies) if r is not None)
    early = tuple(r for r in rules if r.early and r.ip_rule is not None)
    if early:
        policies.append(IpAccess(early, addresses))
    policies.append(SubscriptionCheck(services.products))  # API products; others pass
    policies.append(ModelAccess(config.roles))
    late = tuple(r for r in rules if r.allow_if or r.deny_if or not r.early)
    if late:
        policies.append(AccessRules(late, addresses))
    routes = compile_routes(config, runtime.models)
    if routes:
        policies.append(RoutePolicy(routes))
    limits = runtime.limits
    if limits:
        policies.append(
            LimitsPolicy(
                limits, services.counters, clock=services.clock, prefix=services.key_prefix
            )
        )
    if any(m.max_in_flight is not None for m in runtime.config.models.values()):
        policies.append(ConcurrencyPolicy(runtime.config, services.gates))
    payloads = runtime.config.observability.payloads
    if payloads.tenants:
        policies.append(PayloadCapture(payloads.tenants, int(payloads.max_bytes)))
    policies.extend(guard_and_cache_policies(runtime))
    return policies
