"""Shared cases for both counter backends: specs, checks and a plain reference model."""

from __future__ import annotations

from dataclasses import replace

from lockgate.limits.counters import NEVER, Check
from lockgate.limits.spec import LimitSpec

BASE = LimitSpec(
    id="plans.p.limits[0]",
    counter="plan:p:requests:second:app::",
    owner="plan 'p'",
    measure="requests",
    limit=8.0,
    per="second",
    rate=8.0,
    capacity=10.0,
    scope="app",
    each_model=False,
    tz=None,
    alert_at=(),
    fail_open=True,
    limit_header=b"8",
)
REQUESTS = BASE  # 8 per second, burst 2
TOKENS = replace(
    BASE,
    id="plans.p.limits[1]",
    counter="tok",
    measure="tokens",
    limit=120.0,
    per="minute",
    rate=2.0,
    capacity=120.0,
)
COST_DAY = replace(
    BASE,
    id="plans.p.limits[2]",
    counter="cost",
    measure="cost",
    limit=1000.0,
    per="day",
    rate=0.0,
    capacity=1000.0,
    alert_at=(0.5, 0.8, 1.0),
)
DAY_END = 86_400.0


def check(spec: LimitSpec, amount: float, prefix: str, tag: str = "t:acme") -> Check:
    reset_at = DAY_END if spec.rate == 0 else 0.0
    return Check(spec, f"{prefix}{{{tag}}}:{spec.counter}", tag, amount, reset_at)


class Reference:
    """The semantics, stated plainly: a bucket per rolling limit, a sum per calendar limit,
    all-or-nothing admission, settlement replacing a reservation by the real amount."""

    def __init__(self) -> None:
        self.level: dict[str, tuple[float, float]] = {}  # key -> (level, time)
        self.used: dict[str, float] = {}
        self.settled: dict[str, float] = {}

    def _level(self, c: Check, now: float) -> float:
        level, t = self.level.get(c.key, (c.spec.capacity, now))
        return min(c.spec.capacity, level + (now - t) * c.spec.rate)

    def available(self, c: Check, now: float) -> float:
        if c.spec.rate:
            return self._level(c, now)
        return c.spec.capacity - self.used.get(c.key, 0.0)

    def wait(self, c: Check, now: float) -> float:
        avail = self.available(c, now)
        if avail >= c.amount:
            return 0.0
        if c.amount > c.spec.capacity:
            return NEVER
        return (c.amount - avail) / c.spec.rate if c.spec.rate else c.reset_at - now

    def admit(self, checks: list[Check], now: float) -> bool:
        ok = all(self.wait(c, now) == 0.0 for c in checks)
        for c in checks:
            if c.spec.rate:
                self.level[c.key] = (self._level(c, now) - (c.amount if ok else 0.0), now)
            elif ok:
                self.used[c.key] = self.used.get(c.key, 0.0) + c.amount
        return ok

    def settle(self, checks: list[Check], actuals: list[float], now: float) -> None:
        for c, actual in zip(checks, actuals, strict=True):
            if c.spec.measure == "requests":
                continue
            if c.spec.rate:
                level = min(c.spec.capacity, self._level(c, now) + c.amount - actual)
                self.level[c.key] = (level, now)
            else:
                self.used[c.key] = max(0.0, self.used.get(c.key, 0.0) - c.amount + actual)
                self.settled[c.key] = self.settled.get(c.key, 0.0) + actual
