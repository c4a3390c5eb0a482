"""The rolling window: exact to one bucket, constant memory."""

from __future__ import annotations

from lockgate.routing.window import RollingWindow


def test_counts_within_the_span_only() -> None:
    w = RollingWindow(10.0)  # ten buckets of one second
    w.add(100.2, ok=1)
    w.add(100.7, fail=1)
    w.add(105.0, ok=2)
    assert w.totals(105.5) == (4, 1)
    assert w.totals(109.9) == (4, 1)
    assert w.totals(110.5) == (2, 0)  # the 100 s bucket left the window
    assert w.totals(115.5) == (0, 0)


def test_a_reused_bucket_starts_from_zero() -> None:
    w = RollingWindow(1.0, buckets=2)
    w.add(0.1, fail=5)
    w.add(1.1, ok=1)  # one ring later: the same slot, a new epoch
    assert w.totals(1.2) == (1, 0)
    w.clear()
    assert w.totals(1.2) == (0, 0)
