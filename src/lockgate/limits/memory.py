"""Counters in this process (``state: memory``): exact for one worker, nothing to reach.

A cell per counter key: a rolling bucket keeps its level at a time; a calendar counter keeps
what is used (reservations included) and what was settled (for budget alerts). The event loop
runs one admission at a time, so check-then-reserve is atomic without locks. Cells that carry
no information any more (a full bucket, a period that ended) are swept now and then, so
counters keyed by client IP cannot grow without bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockgate.limits.counters import (
    AlertHook,
    Check,
    Decision,
    Outcome,
    calendar_outcome,
    rolling_outcome,
)
from lockgate.limits.spec import LimitSpec

SWEEP_EVERY = 4096  # admissions between sweeps
SWEEP_AFTER = 30.0  # ... and at least this many seconds


class _Cell:
    __slots__ = ("settled", "spec", "t", "until", "value")

    def __init__(self, spec: LimitSpec, value: float, t: float, until: float) -> None:
        self.spec = spec
        self.value = value  # rolling: bucket level at t; calendar: used (reservations included)
        self.t = t
        self.settled = 0.0  # calendar: settled amount, for alert thresholds
        self.until = until  # calendar: period end


class MemoryCounters:
    kind = "memory"

    def __init__(self, on_alert: AlertHook | None = None) -> None:
        self._cells: dict[str, _Cell] = {}
        self._fired: set[tuple[str, float]] = set()
        self._on_alert = on_alert
        self._admits = 0
        self._swept = 0.0

    def _cell(self, check: Check, now: float) -> _Cell:
        cell = self._cells.get(check.key)
        if cell is None:
            spec = check.spec
            start = spec.capacity if spec.rate else 0.0
            cell = self._cells[check.key] = _Cell(spec, start, now, check.reset_at)
        elif cell.spec.rate:
            spec = cell.spec
            cell.value = min(spec.capacity, cell.value + (now - cell.t) * spec.rate)
            cell.t = now
        return cell

    def _outcome(self, check: Check, cell: _Cell, now: float) -> Outcome:
        if check.spec.rate:
            return rolling_outcome(cell.value, check)
        return calendar_outcome(cell.value, check, now)

    async def admit(
        self, checks: Sequence[Check], now: float, rid: str, expires_at: float
    ) -> Decision:
        return self.admit_now(checks, now)

    def admit_now(self, checks: Sequence[Check], now: float) -> Decision:
        cells = []
        outcomes = []
        admitted = True
        for check in checks:
            cell = self._cell(check, now)
            cells.append(cell)
            outcome = self._outcome(check, cell, now)
            outcomes.append(outcome)
            if outcome.wait:
                admitted = False
        if admitted:
            for check, cell in zip(checks, cells, strict=True):
                cell.value += -check.amount if check.spec.rate else check.amount
        self._admits += 1
        if self._admits % SWEEP_EVERY == 0 and now - self._swept >= SWEEP_AFTER:
            self._sweep(now)
        return Decision(admitted, tuple(outcomes))

    def settle(
        self, checks: Sequence[Check], actuals: Sequence[float], now: float, rid: str
    ) -> None:
        for check, actual in zip(checks, actuals, strict=True):
            if not check.tracked:
                continue
            cell = self._cell(check, now)
            delta = check.amount - actual
            if check.spec.rate:
                cell.value = min(check.spec.capacity, cell.value + delta)
                continue
            cell.value = max(0.0, cell.value - delta)
            cell.settled += actual
            self._alerts(check, cell)

    def _alerts(self, check: Check, cell: _Cell) -> None:
        for threshold in check.spec.alert_at:
            if cell.settled >= threshold * check.spec.limit:
                mark = (check.key, threshold)
                if mark not in self._fired:
                    self._fired.add(mark)
                    if self._on_alert is not None:
                        self._on_alert(check, threshold, cell.settled)

    async def peek(self, checks: Sequence[Check], now: float) -> tuple[Outcome, ...]:
        out = []
        for check in checks:
            cell = self._cells.get(check.key)
            spec = check.spec
            if cell is None:
                value = spec.capacity if spec.rate else 0.0
            elif spec.rate:
                value = min(spec.capacity, cell.value + (now - cell.t) * spec.rate)
            else:
                value = cell.value
            free = Check(spec, check.key, check.tag, 0.0, check.reset_at)
            o = rolling_outcome(value, free) if spec.rate else calendar_outcome(value, free, now)
            out.append(o)
        return tuple(out)

    def _sweep(self, now: float) -> None:
        """Forget cells that hold no information: full buckets, ended periods."""
        self._swept = now
        dead = []
        for key, cell in self._cells.items():
            spec = cell.spec
            if spec.rate:
                full = cell.value + (now - cell.t) * spec.rate >= spec.capacity
            else:
                full = cell.until <= now
            if full:
                dead.append(key)
        for key in dead:
            del self._cells[key]
        self._fired = {m for m in self._fired if m[0] in self._cells}

    def __len__(self) -> int:
        return len(self._cells)

    async def aclose(self) -> None:
        return None
