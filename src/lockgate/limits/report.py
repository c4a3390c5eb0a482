"""Current use against every limit that applies to a tenant, an app or a key.

What a rejected user asks first: which limits bind me, how much is left, when does it reset.
Counters are read without being changed. Limits counted per user or per client IP have no
single subject here; they are listed with their definition and no usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lockgate.limits.counters import Counters, Outcome
from lockgate.limits.keys import Subject, counter_check
from lockgate.limits.spec import NANO_USD, LimitSet, LimitSpec


@dataclass(frozen=True, slots=True)
class ReportSubject:
    tenant: str
    plan: str | None  # the effective plan (the app's, else the tenant's)
    plan_owner: str  # "app" | "tenant"
    roles: tuple[str, ...]
    app_id: str | None = None
    app_name: str | None = None
    key_id: str | None = None


def _resolved(spec: LimitSpec, s: ReportSubject) -> bool:
    if spec.scope in ("user", "ip"):
        return False
    if spec.scope == "app":
        return s.app_id is not None
    if spec.scope == "key":
        return s.key_id is not None
    return True


def _row(
    spec: LimitSpec, model: str | None, subject: str | None, o: Outcome | None, now: float
) -> dict[str, Any]:
    scale = NANO_USD if spec.measure == "cost" else 1.0
    row: dict[str, Any] = {
        "limit": spec.id,
        "description": spec.describe(),
        "measure": spec.measure,
        "unit": "USD" if spec.measure == "cost" else spec.measure,
        "per": spec.per,
        "scope": spec.scope,
        "subject": subject,
        "model": model,
        "allowed": spec.limit / scale,
        "burst": (spec.capacity - spec.limit) / scale,
        "used": None,
        "remaining": None,
        "resets_in": None,
        "resets_at": None,
    }
    if o is not None:
        remaining = max(0.0, o.remaining)
        row["remaining"] = remaining / scale
        row["used"] = max(0.0, spec.capacity - o.remaining) / scale
        row["resets_in"] = round(o.reset, 3)
        at = datetime.fromtimestamp(now + o.reset, UTC)
        row["resets_at"] = at.isoformat(timespec="seconds").replace("+00:00", "Z")
    return row


async def limits_report(
    limits: LimitSet,
    counters: Counters,
    models: frozenset[str],
    s: ReportSubject,
    now: float,
    prefix: str,
) -> list[dict[str, Any]]:
    """Rows for every limit (and model, for ``model: each``) that applies to ``s``."""
    seen: dict[tuple[str, str], tuple[LimitSpec, str]] = {}
    app_name = s.app_name or ""
    for model in sorted(models):
        for spec in limits.applicable(s.plan, s.plan_owner, s.tenant, app_name, model).specs:
            seen.setdefault((spec.counter, model if spec.each_model else ""), (spec, model))
    app = s.app_id or ""
    key = s.key_id or app
    who = Subject(s.tenant, app, key, key, "")
    resolved = [(spec, m) for spec, m in seen.values() if _resolved(spec, s)]
    checks = [counter_check(spec, who, m, now, 0.0, prefix) for spec, m in resolved]
    outcomes = await counters.peek(checks, now) if checks else ()
    rows = []
    for (spec, model), check, outcome in zip(resolved, checks, outcomes, strict=True):
        subject = check.key.split(":" + spec.counter + ":", 1)[1].split(":", 1)[0]
        rows.append(_row(spec, model if spec.each_model else None, subject, outcome, now))
    for spec, model in seen.values():
        if not _resolved(spec, s):
            rows.append(_row(spec, model if spec.each_model else None, None, None, now))
    return rows
