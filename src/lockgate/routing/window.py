"""A rolling count of successes and failures over the last ``span`` seconds.

The span is cut into a fixed ring of buckets; a bucket is reused (and cleared) when time has
moved a whole ring past it, so adding is a few integer operations and memory never grows.
The count is exact to one bucket width (span / buckets) at the old edge.
"""

from __future__ import annotations

BUCKETS = 10


class RollingWindow:
    __slots__ = ("_epochs", "_fails", "_oks", "buckets", "width")

    def __init__(self, span: float, buckets: int = BUCKETS) -> None:
        self.buckets = buckets
        self.width = max(span, 1e-3) / buckets
        self._epochs = [-1] * buckets
        self._oks = [0] * buckets
        self._fails = [0] * buckets

    def add(self, now: float, ok: int = 0, fail: int = 0) -> None:
        epoch = int(now / self.width)
        slot = epoch % self.buckets
        if self._epochs[slot] != epoch:
            self._epochs[slot] = epoch
            self._oks[slot] = ok
            self._fails[slot] = fail
        else:
            self._oks[slot] += ok
            self._fails[slot] += fail

    def totals(self, now: float) -> tuple[int, int]:
        """(requests, failures) in the window ending at ``now``."""
        oldest = int(now / self.width) - self.buckets
        total = fails = 0
        for slot, epoch in enumerate(self._epochs):
            if epoch > oldest:
                total += self._oks[slot] + self._fails[slot]
                fails += self._fails[slot]
        return total, fails

    def clear(self) -> None:
        self._epochs = [-1] * self.buckets
        self._oks = [0] * self.buckets
        self._fails = [0] * self.buckets
