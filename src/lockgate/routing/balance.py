"""Choosing one deployment among a model's targets.

Statistics (in-flight counts, latency averages, round-robin positions) are keyed by the
target's ``provider/model`` key so they survive config reloads.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from lockgate.runtime import Target

LATENCY_EWMA = 0.2


class Balancer:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.in_flight: dict[str, int] = {}
        self.latency: dict[str, float] = {}
        self._next: dict[str, int] = {}

    def pick(self, strategy: str, route_name: str, targets: Sequence[Target]) -> Target:
        if len(targets) == 1:
            return targets[0]
        if strategy == "round-robin":
            i = self._next.get(route_name, 0)
            self._next[route_name] = i + 1
            return targets[i % len(targets)]
        if strategy == "least-busy":
            return self._least(targets, lambda t: float(self.in_flight.get(t.key, 0)))
        if strategy == "least-latency":
            # Unmeasured targets go first so every target gets measured.
            return self._least(targets, lambda t: self.latency.get(t.key, 0.0))
        if strategy == "lowest-cost":
            return self._least(targets, lambda t: t.price.input + t.price.output)
        return self._weighted(targets)

    def _weighted(self, targets: Sequence[Target]) -> Target:
        total = sum(t.weight for t in targets)
        if total <= 0:
            return targets[self.rng.randrange(len(targets))]
        x = self.rng.random() * total
        for t in targets:
            x -= t.weight
            if x < 0:
                return t
        return targets[-1]

    def _least(self, targets: Sequence[Target], score: Callable[[Target], float]) -> Target:
        best = min(score(t) for t in targets)
        tied = [t for t in targets if score(t) == best]
        return tied[0] if len(tied) == 1 else tied[self.rng.randrange(len(tied))]

    def started(self, target: Target) -> None:
        self.in_flight[target.key] = self.in_flight.get(target.key, 0) + 1

    def finished(self, target: Target, seconds: float | None) -> None:
        self.in_flight[target.key] = max(0, self.in_flight.get(target.key, 1) - 1)
        if seconds is not None:
            old = self.latency.get(target.key)
            self.latency[target.key] = (
                seconds if old is None else old + LATENCY_EWMA * (seconds - old)
            )
