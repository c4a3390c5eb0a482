"""``GET /admin/v1/deployments``: per deployment, breaker state, health, latency, error rate,
in flight (SPEC section 3).

Readable with any admin key: deployments are the gateway's own configuration and carry no
tenant's data. The gateway passes the callable that produces the rows (its router's view).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lockgate.routing.report import DeploymentRow

from .context import Caller
from .openapi import errors

DeploymentsReport = Callable[[], list[DeploymentRow]]


class DeploymentOut(BaseModel):
    model: str
    deployment: str = Field(description="provider/model")
    provider: str
    region: str | None
    priority: int
    weight: float
    routing: str
    available: bool = Field(description="May serve a new request now.")
    breaker: str | None = Field(description="closed, open or half_open; null: no circuit_breaker")
    breaker_opens_in_s: float | None = Field(description="An open breaker half-opens in ...")
    health: str = Field(description="healthy, unhealthy or unchecked (no health_check)")
    health_reason: str | None
    health_checked_at: str | None
    in_flight: int
    latency_ms: float | None = Field(description="Moving average of a whole attempt")
    ttft_ms: float | None = Field(description="Moving average of time to first token")
    requests: int = Field(description="Attempts in the last 60 s (this process)")
    failures: int
    error_rate: float | None
    last_error: str | None
    cooldown_s: float = Field(description="Seconds left of a provider's retry-after")

    @classmethod
    def of(cls, row: DeploymentRow) -> DeploymentOut:
        s = row.stats
        return cls(
            model=row.model,
            deployment=row.deployment,
            provider=row.provider,
            region=row.region,
            priority=row.priority,
            weight=row.weight,
            routing=row.routing,
            available=row.available,
            breaker=row.breaker,
            breaker_opens_in_s=row.breaker_opens_in_s,
            health=row.health,
            health_reason=row.health_reason,
            health_checked_at=row.health_checked_at,
            in_flight=s.in_flight,
            latency_ms=s.latency_ms,
            ttft_ms=s.ttft_ms,
            requests=s.requests,
            failures=s.failures,
            error_rate=s.error_rate,
            last_error=s.last_error,
            cooldown_s=s.cooldown_s,
        )


class DeploymentList(BaseModel):
    data: list[DeploymentOut]


def add_deployment_routes(router: APIRouter, report: DeploymentsReport) -> None:
    @router.get("/deployments", response_model=DeploymentList, responses=errors(401))
    async def list_deployments(caller: Caller) -> DeploymentList:
        return DeploymentList(data=[DeploymentOut.of(r) for r in report()])
