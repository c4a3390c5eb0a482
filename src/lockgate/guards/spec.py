"""Guards compiled once per config load, and which apply to whom.

Every policy with ``guards`` contributes its guards to the requests its ``match`` covers
(tenants, apps, models; empty means all). A request's ``GuardSet`` lists them in config
order, split by side; its ``fingerprint`` (a digest of their settings) is part of every cache
key, so changing a guard never serves answers that were checked under the old one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import orjson

from lockgate.config.models import Config, GuardConfig, PolicyMatch
from lockgate.guards.detect import Detector, detector
from lockgate.guards.pii import pii_detectors
from lockgate.guards.secrets import secret_detectors

Action = Literal["block", "redact", "flag"]
SET_CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class Guard:
    policy: str
    name: str
    type: str  # pii | secrets | deny | prompt_injection | schema
    action: Action
    detectors: tuple[Detector, ...] = ()
    threshold: float = 0.0

    @property
    def label(self) -> str:
        return f"policy '{self.policy}' guard '{self.name}'"


@dataclass(frozen=True, slots=True)
class GuardSet:
    input: tuple[Guard, ...]
    output: tuple[Guard, ...]
    fingerprint: bytes

    @property
    def scans_input(self) -> bool:
        return bool(self.input)


def compile_guard(policy: str, g: GuardConfig) -> Guard:
    detectors: tuple[Detector, ...] = ()
    if g.type == "pii":
        detectors = pii_detectors(g.entities, g.custom, g.phone_region.upper())
    elif g.type == "secrets":
        detectors = secret_detectors(g.entities)
    elif g.type == "deny":
        detectors = tuple(detector("deny", p) for p in g.patterns)
    return Guard(
        policy=policy,
        name=g.name or g.type,
        type=g.type,
        action=g.action,
        detectors=detectors,
        threshold=g.threshold,
    )


@dataclass(frozen=True, slots=True)
class _Rule:
    tenants: frozenset[str]
    apps: frozenset[str]  # app names, or "tenant/app"
    models: frozenset[str]
    operations: frozenset[str]  # chat | messages | embeddings | count_tokens
    guards: tuple[tuple[Guard, frozenset[str], bytes], ...]

    def applies(self, tenant: str, app: str, model: str, operation: str) -> bool:
        return (
            (not self.tenants or tenant in self.tenants)
            and (not self.apps or app in self.apps or f"{tenant}/{app}" in self.apps)
            and (not self.models or model in self.models)
            and (not self.operations or operation in self.operations)
        )


def _rule(name: str, match: PolicyMatch | None, guards: list[GuardConfig]) -> _Rule:
    m = match or PolicyMatch()
    compiled = tuple(
        (
            compile_guard(name, g),
            g.sides,
            orjson.dumps([name, g.model_dump(mode="json")], option=orjson.OPT_SORT_KEYS),
        )
        for g in guards
    )
    return _Rule(
        frozenset(m.tenants), frozenset(m.apps), frozenset(m.models), frozenset(m.routes), compiled
    )


class GuardBook:
    """Every guard of a config load, and a memo of which apply to (tenant, app, model)."""

    def __init__(self, config: Config) -> None:
        self._rules = tuple(_rule(r.name, r.match, r.guards) for r in config.policies if r.guards)
        self._sets: dict[tuple[str, str, str, str], GuardSet | None] = {}

    def __bool__(self) -> bool:
        return bool(self._rules)

    @property
    def uses_classifier(self) -> bool:
        return any(g.type == "prompt_injection" for r in self._rules for g, _, _ in r.guards)

    def for_request(self, tenant: str, app: str, model: str, operation: str) -> GuardSet | None:
        """The guards of a caller's request; ``operation`` is the route as policies name it
        (``lockgate.policies.values.operation``)."""
        key = (tenant, app, model, operation)
        try:
            return self._sets[key]
        except KeyError:
            pass
        if len(self._sets) >= SET_CACHE_SIZE:
            self._sets.clear()
        found = self._sets[key] = self._resolve(*key)
        return found

    def _resolve(self, tenant: str, app: str, model: str, operation: str) -> GuardSet | None:
        inputs: list[Guard] = []
        outputs: list[Guard] = []
        digest = hashlib.blake2b(digest_size=16)
        for rule in self._rules:
            if not rule.applies(tenant, app, model, operation):
                continue
            for guard, sides, settings in rule.guards:
                digest.update(settings)
                if "input" in sides:
                    inputs.append(guard)
                if "output" in sides:
                    outputs.append(guard)
        if not inputs and not outputs:
            return None
        return GuardSet(tuple(inputs), tuple(outputs), digest.digest())
