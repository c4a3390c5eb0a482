"""Overload protection: caps on connections and requests in flight, and the event-loop lag watch.

Past a cap the server answers 503 with ``retry-after`` at once, without reaching the app, rather
than queueing work without bound: a client that is shed learns it within a round trip and the
requests already admitted keep their latency. Everything here is a counter or a flag read per
connection or per request; the lag watch is one timer for the whole server.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from lockgate.serving.context import RequestIds, ServerLimits

# How often the loop lag is sampled while ``max_loop_lag`` is set.
LAG_INTERVAL: Final = 0.1
# Consecutive late samples before new requests are shed.
LAG_SAMPLES: Final = 2


class Overload:
    __slots__ = (
        "connections",
        "due",
        "ids",
        "in_flight",
        "lag",
        "lagging",
        "late",
        "limits",
        "loop",
        "max_connections",
        "max_in_flight",
        "max_per_ip",
        "per_ip",
        "shed",
        "timer",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limits: ServerLimits, ids: RequestIds
    ) -> None:
        self.loop = loop
        self.limits = limits
        self.ids = ids
        # 0 means "no limit"; the largest int keeps the per-request check one comparison.
        self.max_connections = limits.max_connections or sys.maxsize
        self.max_per_ip = limits.max_connections_per_ip
        self.max_in_flight = limits.max_in_flight or sys.maxsize
        self.connections = 0  # admitted connections still open
        self.per_ip: dict[str, int] = {}
        self.in_flight = 0  # requests whose app task runs
        self.lag = 0.0
        self.late = 0  # consecutive lag samples over max_loop_lag
        self.lagging = False
        self.shed = 0  # requests and connections answered 503 so far
        self.due = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # --- connections -------------------------------------------------------------------------

    def admit_connection(self, ip: str | None) -> bool:
        """Count a new connection in, or False when a cap says no."""
        if self.connections >= self.max_connections:
            return False
        if self.max_per_ip and ip is not None:
            count = self.per_ip.get(ip, 0)
            if count >= self.max_per_ip:
                return False
            self.per_ip[ip] = count + 1
        self.connections += 1
        return True

    def release_connection(self, ip: str | None) -> None:
        self.connections -= 1
        if self.max_per_ip and ip is not None:
            count = self.per_ip.get(ip, 1) - 1
            if count > 0:
                self.per_ip[ip] = count
            else:
                self.per_ip.pop(ip, None)

    def connection_refusal(self, ip: str | None) -> str:
        """Why a connection was refused, for its 503."""
        self.shed += 1
        if self.connections >= self.max_connections:
            setting = f"{self.limits.max_connections} connections (server.limits.max_connections)"
        else:
            setting = (
                f"{self.max_per_ip} connections from {ip} (server.limits.max_connections_per_ip)"
            )
        return f"the gateway is serving its maximum of {setting}; {self.retry_words()}"

    # --- requests ----------------------------------------------------------------------------

    def saturated(self) -> bool:
        return self.lagging or self.in_flight >= self.max_in_flight

    def request_refusal(self) -> str:
        """Why a request is answered 503 without reaching the app (counted as shed)."""
        self.shed += 1
        if self.lagging:
            why = (
                f"its event loop lags {self.lag:.2f} s, more than "
                f"{self.limits.max_loop_lag:g} s (server.limits.max_loop_lag)"
            )
        else:
            why = (
                f"{self.limits.max_in_flight} requests are in flight (server.limits.max_in_flight)"
            )
        return f"the gateway is overloaded: {why}; {self.retry_words()}"

    def retry_words(self) -> str:
        return f"retry after {self.limits.retry_after} s"

    # --- event-loop lag ----------------------------------------------------------------------

    def start(self) -> None:
        if self.limits.max_loop_lag > 0 and self.timer is None:
            self.due = self.loop.time() + LAG_INTERVAL
            self.timer = self.loop.call_at(self.due, self.tick)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.lagging = False

    def tick(self) -> None:
        """How late this timer fired is how long the loop was busy elsewhere."""
        now = self.loop.time()
        self.observe(now - self.due)
        self.due = now + LAG_INTERVAL
        self.timer = self.loop.call_at(self.due, self.tick)

    def observe(self, lag: float) -> None:
        """Shed while the loop is late at two samples in a row: one late sample is a single
        stall (a full garbage collection, a slow callback) that is already over."""
        self.lag = max(0.0, lag)
        self.late = self.late + 1 if self.lag > self.limits.max_loop_lag else 0
        self.lagging = self.late >= LAG_SAMPLES
