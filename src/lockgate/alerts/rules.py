"""Per-model error-rate and latency alerts (``alerts.rules``), evaluated off the hot path.

The usage writer's pump hands every batch of records to ``ModelAlerts.consume``; each model a
rule watches keeps a window of (time, latency, time to first token, failed) samples. After a
batch, the rules of the models it touched are evaluated: a rule *fires* (``model.error_rate`` /
``model.latency``) when its condition becomes true with at least ``min_requests`` calls in the
window, and *resolves* (``*.resolved``) when it becomes false again. Each transition is
announced once per process, and once per cluster when the state backend is shared: the first
replica to claim the transition in Redis announces it, the others stay quiet.

A failed call is one answered 5xx or failed by a provider (an upstream error of any status).
Rates are computed over the calls this process served, within the window (at most its last
20,000 calls per model); a model is evaluated at most once a second.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lockgate.config.models import AlertRule, ErrorRateAlert
from lockgate.usage.record import Expanded

log = logging.getLogger("lockgate.alerts")

MAX_SAMPLES = 20_000  # per model: a window holds at most the last 20,000 calls
EVALUATE_EVERY = 1.0  # seconds: a busy model is evaluated at most this often
Claim = Callable[[str, float], Awaitable[bool]]
Emit = Callable[[str, dict[str, Any]], None]


async def always(key: str, ttl: float) -> bool:
    return True


def redis_claim(client: Any) -> Claim:
    """Cluster-wide de-duplication: one SET NX per transition, expiring with the window."""

    async def claim(key: str, ttl: float) -> bool:
        try:
            return bool(
                await client.set(f"lockgate:alert:{{{key}}}", "1", nx=True, px=int(ttl * 1000))
            )
        except Exception as exc:  # a state outage must not silence alerts
            log.warning("alert de-duplication unavailable (%s)", type(exc).__name__)
            return True

    return claim


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    latency: float  # seconds
    ttft: float | None
    failed: bool


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


class ModelAlerts:
    def __init__(
        self,
        rules: Sequence[AlertRule],
        models: Sequence[str],
        emit: Emit,
        *,
        claim: Claim = always,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.emit = emit
        self.claim = claim
        self.clock = clock
        self._samples: dict[str, deque[Sample]] = {}
        self._firing: set[tuple[int, str]] = set()
        self._evaluated: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.rules: tuple[AlertRule, ...] = ()
        self._watch: dict[str, list[int]] = {}
        self.configure(rules, models)

    def configure(self, rules: Sequence[AlertRule], models: Sequence[str]) -> None:
        """Rules of the current config (at start and on reload); state of kept rules stays."""
        self.rules = tuple(rules)
        watch: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            for model in models if "*" in rule.models else rule.models:
                watch.setdefault(model, []).append(i)
        self._watch = watch
        self._firing = {(i, m) for i, m in self._firing if m in watch and i < len(self.rules)}

    def consume(self, batch: Sequence[Expanded]) -> None:
        if not self._watch:
            return
        touched: set[str] = set()
        for e in batch:
            r = e.row
            model = r.served_model
            if model is None or model not in self._watch:
                continue
            window = self._samples.get(model)
            if window is None:
                window = self._samples[model] = deque(maxlen=MAX_SAMPLES)
            ttft = r.ttft_ms / 1000.0 if r.ttft_ms is not None else None
            window.append(
                Sample(r.ts.timestamp(), r.latency_ms / 1000.0, ttft, r.failed or e.upstream_failed)
            )
            touched.add(model)
        for model in touched:
            self.evaluate(model)

    def evaluate(self, model: str, *, force: bool = False) -> None:
        now = self.clock()
        window = self._samples.get(model)
        if window is None or (
            not force and now - self._evaluated.get(model, -1e18) < EVALUATE_EVERY
        ):
            return
        self._evaluated[model] = now
        longest = max(self.rules[i].window for i in self._watch.get(model, []))
        while window and window[0].at < now - longest:
            window.popleft()
        for i in self._watch.get(model, []):
            rule = self.rules[i]
            recent = [s for s in window if s.at >= now - rule.window]
            if len(recent) < rule.min_requests:
                continue
            active, data = self._check(rule, recent)
            key = (i, model)
            if active != (key in self._firing):
                if active:
                    self._firing.add(key)
                else:
                    self._firing.discard(key)
                self._announce(rule, model, active, {**data, "requests": len(recent)})

    @staticmethod
    def _check(rule: AlertRule, samples: list[Sample]) -> tuple[bool, dict[str, Any]]:
        if isinstance(rule, ErrorRateAlert):
            rate = sum(s.failed for s in samples) / len(samples)
            return rate > rule.above, {"error_rate": round(rate, 4), "threshold": rule.above}
        values = [
            v
            for v in (s.ttft if rule.measure == "ttft" else s.latency for s in samples)
            if v is not None
        ]
        if not values:
            return False, {}
        value = percentile(values, rule.percentile)
        return value > rule.above, {
            "measure": rule.measure,
            "percentile": rule.percentile,
            "seconds": round(value, 4),
            "threshold": rule.above,
        }

    def _announce(self, rule: AlertRule, model: str, active: bool, data: dict[str, Any]) -> None:
        event = f"model.{rule.type}" + ("" if active else ".resolved")
        payload = {"model": model, "window_seconds": rule.window, **data}
        claim_key = f"{event}:{model}:{int(self.clock() // max(rule.window, 1.0))}"

        async def announce() -> None:
            if await self.claim(claim_key, rule.window):
                self.emit(event, payload)

        task = asyncio.get_running_loop().create_task(announce())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
