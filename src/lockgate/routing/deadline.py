"""One deadline per request: ``timeout.total`` bounds the whole retry and fallback chain.

The clock starts when routing starts. Every attempt gets the time that is left (its connect,
first-token and idle timeouts cut to it as well), a backoff that would end past the deadline
is not slept (routing moves on to a fallback, or gives up), and when the time is spent the
answer is a 504 that says so.
"""

from __future__ import annotations

from dataclasses import replace

from lockgate.errors import GatewayError, UpstreamTimeout
from lockgate.runtime import ModelRoute
from lockgate.upstream import Timeouts

SLACK = 0.001  # the first attempt keeps the route's own timeouts (no copy on the hot path)


class Deadline:
    __slots__ = ("at", "model", "total")

    def __init__(self, route: ModelRoute, now: float) -> None:
        self.total = route.timeouts.total
        self.at = now + self.total
        self.model = route.name

    def left(self, now: float) -> float:
        return self.at - now

    def allows_wait(self, now: float, delay: float) -> bool:
        """Whether a backoff of ``delay`` still ends before the deadline."""
        return now + delay < self.at

    def bound(self, route: ModelRoute, now: float) -> ModelRoute:
        """``route`` as the next attempt sees it: its timeouts cut to the time left."""
        left = self.at - now
        t = route.timeouts
        if t.total <= left + SLACK:
            return route
        cut = Timeouts(
            connect=min(t.connect, left),
            first_byte=min(t.first_byte, left),
            idle=min(t.idle, left),
            total=left,
        )
        return replace(route, timeouts=cut)

    def spent(self, attempts: int, last: GatewayError | None) -> UpstreamTimeout:
        detail = f"; last error: {last.message}" if last is not None else ""
        return UpstreamTimeout(
            f"model '{self.model}': the request's timeout.total ({self.total:g} s) ran out "
            f"after {attempts} attempt(s){detail}"
        )
