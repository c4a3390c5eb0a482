"""The counter backends' contract: check and reserve every limit of a request in one atomic
step, settle reservations to real usage later, and read counters without changing them.

A request's ``Check`` list covers every limit that applies to it. ``admit`` either reserves
all of them or none (a request rejected by one limit consumes none of the others) and reports,
per check, what remains, when it resets and how long the caller would have to wait.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from lockgate.limits.spec import LimitSpec

NEVER = math.inf  # a request larger than the limit's whole capacity: waiting will not help


# Named tuples, not dataclasses: several are built per request on the hot path.


class Check(NamedTuple):
    spec: LimitSpec
    key: str  # the counter's key; its hash tag groups counters one Redis call may touch
    tag: str
    amount: float  # reserved now (requests: 1; tokens and cost: the request's upper bound)
    reset_at: float  # calendar periods: the period's end (epoch seconds); rolling: 0

    @property
    def tracked(self) -> bool:
        """Tokens and cost are reserved, then settled; a request count is final at once."""
        return self.spec.tracked


class Outcome(NamedTuple):
    remaining: float  # after this request when admitted, else what is available now
    reset: float  # seconds until the counter is back to its full allowance
    wait: float  # 0 when this limit admits; seconds until it would; NEVER


class Decision(NamedTuple):
    admitted: bool
    outcomes: tuple[Outcome, ...]


class StateUnavailable(Exception):
    """The shared state backend could not be reached; the caller applies on_state_error."""


# (check, threshold fraction, settled amount): a budget crossed one of its alert_at fractions,
# reported once per threshold per period (cluster-wide with Redis).
AlertHook = Callable[[Check, float, float], None]


class Counters(Protocol):
    kind: str

    async def admit(
        self, checks: Sequence[Check], now: float, rid: str, expires_at: float
    ) -> Decision: ...

    def settle(
        self, checks: Sequence[Check], actuals: Sequence[float], now: float, rid: str
    ) -> None:
        """Replace each tracked check's reservation by its real amount (never raises)."""
        ...

    async def peek(self, checks: Sequence[Check], now: float) -> tuple[Outcome, ...]: ...

    async def aclose(self) -> None: ...


def rolling_outcome(level: float, check: Check) -> Outcome:
    """The outcome for a bucket at ``level`` (already refilled to now)."""
    spec = check.spec
    reset = (spec.capacity - level) / spec.rate
    if level >= check.amount:
        return Outcome(level - check.amount, reset + check.amount / spec.rate, 0.0)
    wait = NEVER if check.amount > spec.capacity else (check.amount - level) / spec.rate
    return Outcome(level, reset, wait)


def calendar_outcome(used: float, check: Check, now: float) -> Outcome:
    spec = check.spec
    available = spec.capacity - used
    reset = max(0.0, check.reset_at - now)
    if available >= check.amount:
        return Outcome(available - check.amount, reset, 0.0)
    wait = NEVER if check.amount > spec.capacity else reset
    return Outcome(max(0.0, available), reset, wait)
