"""Policies applied to every data-plane request, one module each.

``build_policies`` is the one place that decides which policies a config load runs; a
policy whose config section is empty is not built, so it costs nothing per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.pipeline.policy import Policy
from lockgate.policies.access import ModelAccess
from lockgate.policies.authn import ApiKeyAuthn
from lockgate.policies.concurrency import ConcurrencyPolicy
from lockgate.policies.limits import LimitsPolicy

if TYPE_CHECKING:
    from lockgate.runtime import Runtime


def build_policies(runtime: Runtime) -> list[Policy]:
    services = runtime.services
    policies: list[Policy] = [ApiKeyAuthn(services.keys), ModelAccess()]
    limits = runtime.limits
    if limits:
        policies.append(
            LimitsPolicy(
                limits, services.counters, clock=services.clock, prefix=services.key_prefix
            )
        )
    if any(m.max_in_flight is not None for m in runtime.config.models.values()):
        policies.append(ConcurrencyPolicy(runtime.config, services.gates))
    return policies
