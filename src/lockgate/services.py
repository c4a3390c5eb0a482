"""What outlives a config load: the gateway's long-lived services, shared by every ``Runtime``.

Policies compiled at each (re)load reach the key index, the state backend, the clock and the
alert dispatcher through this one object, so a reload rebuilds policies without reconnecting
or losing counters. Tests build one with only what they need.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lockgate.alerts import AlertDispatcher
from lockgate.apis.catalog import EMPTY, ProductIndex
from lockgate.identity.index import KeyIndex
from lockgate.limits.counters import Counters
from lockgate.limits.gate import PriorityGate
from lockgate.limits.memory import MemoryCounters
from lockgate.ml.hub import ModelHub
from lockgate.policies.authn import KeyLookup
from lockgate.state import MemoryState, StateBackend

if TYPE_CHECKING:
    from lockgate.cache.semantic import SemanticIndexes
    from lockgate.cache.store import ResponseStore


def _no_keys() -> KeyLookup:
    return KeyIndex.empty()


def _no_products() -> ProductIndex:
    return EMPTY


@dataclass(slots=True)
class Services:
    keys: Callable[[], KeyLookup] = _no_keys
    state: StateBackend = field(default_factory=MemoryState)
    clock: Callable[[], float] = time.time  # wall clock: calendar periods, expiries
    alerts: AlertDispatcher | None = None
    counters: Counters = field(default_factory=MemoryCounters)  # limit counters
    key_prefix: str = "lg:"  # of every key Lockgate writes in the state backend
    gates: dict[str, PriorityGate] = field(default_factory=dict)  # max_in_flight, per model
    # Response cache and local models, created on first use by a config that needs them:
    cache: ResponseStore | None = None
    semantic: SemanticIndexes | None = None
    ml: ModelHub = field(default_factory=ModelHub)
    products: Callable[[], ProductIndex] = _no_products  # the store's API products (apis/)
