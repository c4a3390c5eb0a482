"""Circuit breakers: one per deployment of a model, taking a failing deployment out of selection.

A breaker is **closed** (the deployment serves) until, within the rolling ``window``, at least
``min_requests`` attempts were made and the share of failures reached ``error_rate``; then it
is **open** for ``open_for`` (the deployment gets no traffic), then **half-open**: up to
``probes`` attempts are let through; when that many succeed it closes, and one failure opens it
again. Failures are connect errors, timeouts, retryable statuses and streams that break after
they started; a 4xx the caller caused is a success (the deployment answered), and an attempt
the client abandoned counts as neither.

Modes. With ``state: memory`` every transition is decided here at once and announced
(``circuit.open`` / ``circuit.close`` events plus a log line). With ``state: redis://`` the
shared state in Redis is the authority (``breaker_sync``): outcomes are batched to it off the
hot path, every replica mirrors the one state, and the replica whose report caused a
transition announces it, so an event is sent once per cluster. Locally a shared breaker still
moves from open to half-open when its time is up, and back to open when one of its own probes
fails, so it never waits for Redis to stop sending traffic to a deployment.

Breakers are keyed by (model, ``provider/model``) and outlive config reloads; each outcome is
judged by the ``circuit_breaker`` settings of the model it was made for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lockgate.config.models import CircuitBreakerConfig
from lockgate.routing.window import RollingWindow
from lockgate.runtime import ModelRoute

log = logging.getLogger("lockgate.routing")

BreakerKey = tuple[str, str]  # (model, "provider/model")
Emit = Callable[[str, dict[str, Any]], None]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


@dataclass(frozen=True, slots=True)
class Transition:
    """A breaker opened or closed: what the event and the log line say."""

    model: str
    deployment: str
    state: BreakerState  # OPEN or CLOSED
    reason: str
    requests: int = 0
    failures: int = 0
    open_for: float | None = None

    @property
    def event(self) -> str:
        return "circuit.open" if self.state is OPEN else "circuit.close"

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "deployment": self.deployment,
            "state": str(self.state),
            "reason": self.reason,
        }
        if self.state is OPEN:
            data.update(requests=self.requests, failures=self.failures, open_for=self.open_for)
        return data


class Breaker:
    """The state machine of one breaker; times are the router's monotonic clock."""

    __slots__ = (
        "cfg",
        "deployment",
        "model",
        "pending_fail",
        "pending_ok",
        "probes_ok",
        "probes_out",
        "shared",
        "state",
        "until",
        "window",
    )

    def __init__(
        self, model: str, deployment: str, cfg: CircuitBreakerConfig, *, shared: bool = False
    ) -> None:
        self.model = model
        self.deployment = deployment
        self.cfg = cfg
        self.shared = shared
        self.state = CLOSED
        self.until = 0.0
        self.window = RollingWindow(cfg.window)
        self.probes_out = 0
        self.probes_ok = 0
        self.pending_ok = 0  # outcomes not yet reported to the shared state
        self.pending_fail = 0

    def configure(self, cfg: CircuitBreakerConfig) -> None:
        """Take a reloaded model's settings; a new window span starts a fresh count."""
        if cfg is not self.cfg:
            if cfg.window != self.cfg.window:
                self.window = RollingWindow(cfg.window)
            self.cfg = cfg

    def allows(self, now: float) -> bool:
        """Whether the deployment may be chosen now (an open breaker whose time is up turns
        half-open here)."""
        if self.state is CLOSED:
            return True
        if self.state is OPEN:
            if now < self.until:
                return False
            self._half_open()
        return self.probes_out + self.probes_ok < self.cfg.probes

    def acquire(self) -> bool:
        """The deployment was chosen; returns whether this attempt is a half-open probe."""
        if self.state is HALF_OPEN:
            self.probes_out += 1
            return True
        return False

    def record(self, now: float, ok: bool | None, probe: bool) -> Transition | None:
        """An attempt's outcome (``None``: abandoned, neither success nor failure)."""
        if probe:
            self.probes_out = max(0, self.probes_out - 1)
        if ok is None:
            return None
        state = self.state
        if state is CLOSED:
            if self.shared:
                self._pending(ok)
                return None
            return self._closed_outcome(now, ok)
        if state is HALF_OPEN and probe:
            if self.shared:
                self._pending(ok)
                if not ok:  # stop probing at once; the shared state will agree
                    self._open(now)
                return None
            if not ok:
                return self._open(now, "a half-open probe failed")
            self.probes_ok += 1
            if self.probes_ok >= self.cfg.probes:
                return self._close(f"{self.probes_ok} half-open probe(s) succeeded")
        # Outcomes of attempts started before the breaker opened are not evidence either way.
        return None

    def _pending(self, ok: bool) -> None:
        if ok:
            self.pending_ok += 1
        else:
            self.pending_fail += 1

    def _closed_outcome(self, now: float, ok: bool) -> Transition | None:
        if ok:
            self.window.add(now, ok=1)
            return None
        self.window.add(now, fail=1)
        total, fails = self.window.totals(now)
        cfg = self.cfg
        if total >= cfg.min_requests and fails >= cfg.error_rate * total:
            reason = (
                f"{fails} of {total} attempts failed within {cfg.window:g} s "
                f"(error_rate {cfg.error_rate:g}, min_requests {cfg.min_requests})"
            )
            return self._open(now, reason, total, fails)
        return None

    def _open(
        self, now: float, reason: str = "", requests: int = 0, failures: int = 0
    ) -> Transition:
        self.state = OPEN
        self.until = now + self.cfg.open_for
        self.probes_out = self.probes_ok = 0
        self.window.clear()
        return Transition(
            self.model, self.deployment, OPEN, reason, requests, failures, self.cfg.open_for
        )

    def _half_open(self) -> None:
        self.state = HALF_OPEN
        self.probes_out = self.probes_ok = 0

    def _close(self, reason: str) -> Transition:
        self.state = CLOSED
        self.probes_out = self.probes_ok = 0
        self.window.clear()
        return Transition(self.model, self.deployment, CLOSED, reason)

    def adopt(self, state: BreakerState, until: float) -> None:
        """Take the shared state (Redis mode); ``until`` on this process's clock."""
        if state is HALF_OPEN and self.state is not HALF_OPEN:
            self._half_open()
        elif state is OPEN:
            self.state, self.until = OPEN, until
            self.probes_out = self.probes_ok = 0
        elif state is CLOSED and self.state is not CLOSED:
            self._close("")


class BreakerBook:
    """Every breaker of this process, and what is announced when one opens or closes.

    ``not_closed`` holds the keys of breakers that are open or half-open, so while every
    breaker is closed (almost always) choosing a deployment checks none of them.
    """

    def __init__(self) -> None:
        self._breakers: dict[BreakerKey, Breaker] = {}
        self.not_closed: set[BreakerKey] = set()
        self.emit: Emit | None = None
        self.shared = False
        self.on_shared_outcome: Callable[[], None] | None = None  # wakes the Redis sync

    def get(self, model: str, deployment: str, cfg: CircuitBreakerConfig) -> Breaker:
        key = (model, deployment)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = Breaker(model, deployment, cfg, shared=self.shared)
        elif breaker.cfg is not cfg:
            breaker.configure(cfg)
        return breaker

    def prepare(self, routes: Iterable[ModelRoute]) -> None:
        """Create the breakers a config declares, so that the shared state is followed for
        each of them before its first request here."""
        for route in routes:
            if route.breaker is not None:
                for t in route.targets:
                    self.get(route.name, t.key, route.breaker)

    def find(self, model: str, deployment: str) -> Breaker | None:
        return self._breakers.get((model, deployment))

    def __iter__(self) -> Iterator[Breaker]:
        return iter(list(self._breakers.values()))

    def allows(self, breaker: Breaker, now: float) -> bool:
        return breaker.allows(now)  # open -> half-open keeps it in ``not_closed``

    def record(self, breaker: Breaker, now: float, ok: bool | None, probe: bool) -> None:
        before = breaker.state
        transition = breaker.record(now, ok, probe)
        if breaker.state is not before:
            self._track(breaker)
        if transition is not None:
            self.announce(transition)
        elif breaker.shared and ok is not None and (not ok or probe):
            wake = self.on_shared_outcome
            if wake is not None:
                wake()

    def adopt(self, breaker: Breaker, state: BreakerState, until: float) -> None:
        breaker.adopt(state, until)
        self._track(breaker)

    def _track(self, breaker: Breaker) -> None:
        key = (breaker.model, breaker.deployment)
        if breaker.state is CLOSED:
            self.not_closed.discard(key)
        else:
            self.not_closed.add(key)

    def announce(self, t: Transition) -> None:
        if t.state is OPEN:
            log.warning(
                "circuit breaker opened: model %s, deployment %s, for %g s: %s",
                t.model,
                t.deployment,
                t.open_for or 0.0,
                t.reason,
            )
        else:
            log.warning(
                "circuit breaker closed: model %s, deployment %s: %s",
                t.model,
                t.deployment,
                t.reason,
            )
        if self.emit is not None:
            self.emit(t.event, t.data())
