"""Calendar periods: UTC by default, a tz when given, across month, year and DST boundaries."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lockgate.limits.periods import calendar_period


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_month_in_utc_rolls_over_at_year_end() -> None:
    name, end = calendar_period("month", None, ts("2026-12-31T23:59:59+00:00"))
    assert name == "2026-12" and end == ts("2027-01-01T00:00:00+00:00")
    assert calendar_period("month", None, end)[0] == "2027-01"


def test_day_and_month_in_a_time_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 23:30 UTC on Jan 31 is already February in Berlin (UTC+1)
    name, end = calendar_period("month", berlin, ts("2026-01-31T23:30:00+00:00"))
    assert name == "2026-02" and end == ts("2026-03-01T00:00:00+01:00")
    name, end = calendar_period("day", berlin, ts("2026-06-01T21:59:00+00:00"))
    assert name == "2026-06-01" and end == ts("2026-06-02T00:00:00+02:00")


def test_a_day_with_a_dst_change_is_23_hours_long() -> None:
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 8, 0, 0, tzinfo=ny).timestamp()
    name, end = calendar_period("day", ny, start + 1)
    assert name == "2026-03-08" and end - start == 23 * 3600


def test_period_names_are_stable_within_the_period() -> None:
    a = calendar_period("month", None, ts("2026-02-01T00:00:00+00:00"))
    b = calendar_period("month", None, ts("2026-02-28T23:59:59+00:00"))
    assert a == b
    assert datetime.fromtimestamp(a[1], UTC).month == 3
