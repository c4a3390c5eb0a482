"""Time windows of limits: rolling rates and calendar periods.

``second | minute | hour`` are rolling: a bucket that refills continuously at L per window.
``day | month`` are calendar periods in UTC or the limit's ``tz``, reset at the boundary; a
period is named by its start (``2026-12-02`` / ``2026-12``) so its counter key changes at the
boundary and the old one simply expires.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

ROLLING_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
CALENDAR = frozenset({"day", "month"})


def calendar_period(per: str, tz: ZoneInfo | None, now: float) -> tuple[str, float]:
    """The period containing ``now``: its name and its end (epoch seconds)."""
    name, _, end = calendar_bounds(per, tz, now)
    return name, end


def calendar_bounds(per: str, tz: ZoneInfo | None, now: float) -> tuple[str, float, float]:
    """The period containing ``now``: its name, start and end (epoch seconds)."""
    local = datetime.fromtimestamp(now, tz or UTC)
    if per == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = _local_midnight(start.date() + timedelta(days=1), start.tzinfo)
        return start.strftime("%Y-%m-%d"), start.timestamp(), end
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    end = _local_midnight(start.date().replace(year=year, month=month), start.tzinfo)
    return start.strftime("%Y-%m"), start.timestamp(), end


class PeriodCache:
    """The current period of each (per, tz), recomputed only when ``now`` leaves it."""

    def __init__(self) -> None:
        self._current: dict[tuple[str, ZoneInfo | None], tuple[str, float, float]] = {}

    def period(self, per: str, tz: ZoneInfo | None, now: float) -> tuple[str, float]:
        hit = self._current.get((per, tz))
        if hit is None or not hit[1] <= now < hit[2]:
            hit = self._current[(per, tz)] = calendar_bounds(per, tz, now)
        return hit[0], hit[2]


def _local_midnight(day: date, tz: tzinfo | None) -> float:
    """Epoch of 00:00 local time on ``day`` (a DST gap is resolved by zoneinfo's fold=0)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
