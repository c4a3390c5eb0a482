"""Counter keys: which counter a limit uses for a given caller, model and moment.

``prefix{tag}:counter:scope-value[:model][:period]``. The hash tag is the tenant for every
tenant-bound scope (key, app, tenant, user), so all of a request's usual counters share one
Redis Cluster slot and one script call; IP and global counters have their own tags.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.limits.counters import Check
from lockgate.limits.periods import calendar_period
from lockgate.limits.spec import LimitSpec


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a request counts against, one value per scope."""

    tenant: str
    app: str  # app id
    key: str  # key id (the app id for callers without a key)
    user: str  # end user (JWT user, else the request's user field, else the key)
    ip: str


def scope_value(spec: LimitSpec, who: Subject) -> tuple[str, str]:
    """(value, hash tag) of ``who`` in the limit's scope."""
    scope = spec.scope
    if scope == "tenant":
        return who.tenant, "t:" + who.tenant
    if scope == "app":
        return who.app, "t:" + who.tenant
    if scope == "key":
        return who.key, "t:" + who.tenant
    if scope == "user":
        return "u:" + who.user, "t:" + who.tenant
    if scope == "ip":
        return who.ip, "ip:" + who.ip
    return "*", "g"


def counter_base(spec: LimitSpec, who: Subject, model: str, prefix: str) -> tuple[str, str]:
    """(key without the calendar period, hash tag)."""
    value, tag = scope_value(spec, who)
    key = f"{prefix}{{{tag}}}:{spec.counter}:{value}"
    if spec.each_model:
        key += ":" + model
    return key, tag


def counter_check(
    spec: LimitSpec, who: Subject, model: str, now: float, amount: float, prefix: str
) -> Check:
    key, tag = counter_base(spec, who, model, prefix)
    reset_at = 0.0
    if spec.calendar:
        period, reset_at = calendar_period(spec.per, spec.tz, now)
        key += ":" + period
    return Check(spec, key, tag, amount, reset_at)
