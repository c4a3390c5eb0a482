"""Why a request went where it went: the routing steps kept on the request's context.

Nothing is kept for a request served by its first attempt (its context already names the
deployment and model that served). Skips (breaker open, unhealthy, residency, context window,
plan), failed attempts, backoffs cut by the deadline and fallbacks are written as steps, for
the request log and for debugging; ``summary()`` is the one-line form.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.routing.breaker import Breaker
from lockgate.runtime import ModelRoute, Target


@dataclass(frozen=True, slots=True)
class Step:
    model: str
    deployment: str | None  # ``provider/model``; None for a step about the whole model
    outcome: str  # skipped | failed | gave up | fell back | stream failed
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.model} {self.deployment}" if self.deployment else self.model
        return f"{where}: {self.outcome}" + (f" ({self.detail})" if self.detail else "")


@dataclass(slots=True)
class PendingStream:
    """A stream that opened: its outcome is known only when it ends (``Router.stream_ended``)."""

    route: ModelRoute
    target: Target
    breaker: Breaker | None
    probe: bool
    started: float


class RouteTrace:
    __slots__ = ("pending", "steps")

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.pending: PendingStream | None = None

    def add(self, model: str, deployment: str | None, outcome: str, detail: str = "") -> None:
        self.steps.append(Step(model, deployment, outcome, detail))

    def summary(self) -> str:
        return "; ".join(str(s) for s in self.steps)
