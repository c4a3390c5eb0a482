"""The ``budget.threshold`` event: a quota or budget crossed one of its ``alert_at`` fractions."""

from __future__ import annotations

from typing import Any

from lockgate.limits.counters import Check
from lockgate.limits.spec import NANO_USD


def budget_event(check: Check, threshold: float, settled: float) -> dict[str, Any]:
    spec = check.spec
    scale = NANO_USD if spec.measure == "cost" else 1.0
    # The counter key ends with the scope value (and model, and period): the subject that spent.
    parts = check.key.split(":" + spec.counter + ":", 1)
    return {
        "limit": spec.id,
        "description": spec.describe(),
        "measure": spec.measure,
        "threshold": threshold,
        "used": settled / scale,
        "allowed": spec.limit / scale,
        "unit": "USD" if spec.measure == "cost" else spec.measure,
        "subject": parts[1] if len(parts) == 2 else check.key,
        "period_end": check.reset_at,
    }
