"""Choosing one deployment among those that may serve (``routing:`` of a model).

- ``weighted`` (default): at random in proportion to ``weight``; weight 0 never serves while
  another can.
- ``round-robin``: in turn, per model.
- ``least-busy``: fewest attempts in flight on this process; ties by weight.
- ``least-latency``: lowest moving average of time to first token (streaming requests) or of
  whole latency (others); unmeasured deployments first, and a small share of requests
  (``EXPLORE``) is spread by weight so a deployment that got faster is measured again.
- ``lowest-cost``: lowest price (input + output per token); ties by weight.

``priority`` tiers come first: only the deployments of the best tier that can serve are
candidates, so tier 2 serves only while every tier-1 deployment is unavailable (breaker open,
unhealthy, outside the caller's residency, or already tried by this request).

The candidates reaching ``pick`` are already filtered; statistics are per ``provider/model``
key and survive reloads. The random generator is injected so distributions can be tested.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from lockgate.routing.stats import DeploymentStats
from lockgate.runtime import ModelRoute, Target

EXPLORE = 0.05


class Balancer:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.stats: dict[str, DeploymentStats] = {}
        self._next: dict[str, int] = {}

    def stats_for(self, key: str) -> DeploymentStats:
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = DeploymentStats(key)
        return stats

    def pick(
        self, route: ModelRoute, candidates: Sequence[Target], streaming: bool = False
    ) -> Target:
        if route.tiered and len(candidates) > 1:
            best = min(t.priority for t in candidates)
            candidates = [t for t in candidates if t.priority == best]
        if len(candidates) == 1:
            return candidates[0]
        strategy = route.routing
        if strategy == "round-robin":
            i = self._next.get(route.name, 0)
            self._next[route.name] = i + 1
            return candidates[i % len(candidates)]
        if strategy == "least-busy":
            return self._least(candidates, lambda t: float(self._in_flight(t)))
        if strategy == "least-latency":
            return self._fastest(candidates, streaming)
        if strategy == "lowest-cost":
            return self._least(candidates, lambda t: t.price.input + t.price.output)
        return self.weighted(candidates)

    def weighted(self, targets: Sequence[Target]) -> Target:
        total = sum(t.weight for t in targets)
        if total <= 0:
            return targets[self.rng.randrange(len(targets))]
        x = self.rng.random() * total
        for t in targets:
            x -= t.weight
            if x < 0:
                return t
        return targets[-1]

    def _in_flight(self, t: Target) -> int:
        stats = self.stats.get(t.key)
        return stats.in_flight if stats is not None else 0

    def _least(self, targets: Sequence[Target], score: Callable[[Target], float]) -> Target:
        scores = [score(t) for t in targets]
        best = min(scores)
        tied = [t for t, s in zip(targets, scores, strict=True) if s == best]
        return tied[0] if len(tied) == 1 else self.weighted(tied)

    def _fastest(self, targets: Sequence[Target], streaming: bool) -> Target:
        if self.rng.random() < EXPLORE:
            return self.weighted(targets)
        measured: list[tuple[float, Target]] = []
        unmeasured: list[Target] = []
        for t in targets:
            stats = self.stats.get(t.key)
            score = stats.score(streaming) if stats is not None else None
            if score is None:
                unmeasured.append(t)
            else:
                measured.append((score, t))
        if unmeasured:
            return unmeasured[0] if len(unmeasured) == 1 else self.weighted(unmeasured)
        best = min(s for s, _ in measured)
        tied = [t for s, t in measured if s == best]
        return tied[0] if len(tied) == 1 else self.weighted(tied)
