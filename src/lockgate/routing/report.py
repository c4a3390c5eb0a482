"""The state of every deployment, as ``GET /admin/v1/deployments`` and ``lockgate deployments``
show it: breaker state, health, in flight, latency, error rate, retry-after cool-down.

One row per deployment of each model, in config order. Latency, in flight and error rate are
this process's view (per ``provider/model``); breaker state is shared by every replica when
state is Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lockgate.routing.breaker import CLOSED, OPEN, BreakerBook
from lockgate.routing.health import HealthMonitor
from lockgate.routing.stats import StatsView, view
from lockgate.routing.strategies import Balancer
from lockgate.runtime import ModelRoute, Runtime, Target


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    model: str
    deployment: str  # provider/model
    provider: str
    region: str | None
    priority: int
    weight: float
    routing: str
    available: bool  # may serve a new request now
    breaker: str | None  # closed | open | half_open; None without circuit_breaker
    breaker_opens_in_s: float | None  # an open breaker half-opens in this many seconds
    health: str  # healthy | unhealthy | unchecked
    health_reason: str | None
    health_checked_at: str | None  # ISO 8601, UTC
    stats: StatsView


def deployment_rows(
    runtime: Runtime, book: BreakerBook, health: HealthMonitor, balancer: Balancer, now: float
) -> list[DeploymentRow]:
    return [
        _row(route, t, book, health, balancer, now)
        for route in runtime.models.values()
        for t in route.targets
    ]


def _row(
    route: ModelRoute,
    t: Target,
    book: BreakerBook,
    health: HealthMonitor,
    balancer: Balancer,
    now: float,
) -> DeploymentRow:
    breaker = book.find(route.name, t.key) if route.breaker is not None else None
    state: str | None = None
    opens_in: float | None = None
    available = True
    if route.breaker is not None:
        state = str(breaker.state) if breaker is not None else str(CLOSED)
        if breaker is not None and breaker.state is OPEN:
            left = breaker.until - now
            opens_in = round(max(0.0, left), 3)
            available = left <= 0
    checked = health.status.get(t.provider.name)
    if checked is None:
        health_state, reason, at = "unchecked", None, None
    else:
        health_state = "healthy" if checked.healthy else "unhealthy"
        reason = checked.reason
        at = datetime.fromtimestamp(checked.checked_at, UTC).isoformat().replace("+00:00", "Z")
        available = available and checked.healthy
    return DeploymentRow(
        model=route.name,
        deployment=t.key,
        provider=t.provider.name,
        region=t.region,
        priority=t.priority,
        weight=t.weight,
        routing=route.routing,
        available=available,
        breaker=state,
        breaker_opens_in_s=opens_in,
        health=health_state,
        health_reason=reason,
        health_checked_at=at,
        stats=view(balancer.stats.get(t.key), now),
    )
