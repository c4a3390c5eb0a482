"""What routing measures per deployment: in flight, latency, errors, retry-after cool-downs.

One ``DeploymentStats`` per ``provider/model`` key (shared by every model that uses the
deployment, and kept across config reloads). The strategies read it to choose; the admin API
shows it. Updating it costs a few attribute writes per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.routing.window import RollingWindow

EWMA = 0.2  # weight of the newest sample in the latency averages
STATS_WINDOW = 60.0  # seconds of history behind the error rate shown to operators
MAX_COOLDOWN = 3600.0  # a provider's retry-after is honoured up to an hour


class DeploymentStats:
    __slots__ = (
        "cooldown_until",
        "in_flight",
        "key",
        "last_error",
        "latency",
        "ttft",
        "window",
    )

    def __init__(self, key: str) -> None:
        self.key = key
        self.in_flight = 0
        self.latency: float | None = None  # EWMA seconds of a whole attempt
        self.ttft: float | None = None  # EWMA seconds to the first token (streams)
        self.window = RollingWindow(STATS_WINDOW, 6)
        self.last_error: str | None = None
        self.cooldown_until = 0.0  # monotonic: avoid while another deployment can serve

    def succeeded(self, now: float, seconds: float) -> None:
        self.window.add(now, ok=1)
        old = self.latency
        self.latency = seconds if old is None else old + EWMA * (seconds - old)

    def first_token(self, seconds: float) -> None:
        old = self.ttft
        self.ttft = seconds if old is None else old + EWMA * (seconds - old)

    def failed(self, now: float, why: str) -> None:
        self.window.add(now, fail=1)
        self.last_error = why

    def cool_down(self, now: float, seconds: float) -> None:
        self.cooldown_until = max(self.cooldown_until, now + min(seconds, MAX_COOLDOWN))

    def score(self, streaming: bool) -> float | None:
        """What least-latency minimises: time to first token for a stream, whole latency
        otherwise (each standing in for the other until measured)."""
        if streaming:
            return self.ttft if self.ttft is not None else self.latency
        return self.latency if self.latency is not None else self.ttft


@dataclass(frozen=True, slots=True)
class StatsView:
    in_flight: int
    latency_ms: float | None
    ttft_ms: float | None
    requests: int  # in the last STATS_WINDOW seconds
    failures: int
    error_rate: float | None
    last_error: str | None
    cooldown_s: float  # seconds of retry-after cool-down left


def view(stats: DeploymentStats | None, now: float) -> StatsView:
    if stats is None:
        return StatsView(0, None, None, 0, 0, None, None, 0.0)
    total, fails = stats.window.totals(now)
    return StatsView(
        in_flight=stats.in_flight,
        latency_ms=_ms(stats.latency),
        ttft_ms=_ms(stats.ttft),
        requests=total,
        failures=fails,
        error_rate=round(fails / total, 4) if total else None,
        last_error=stats.last_error,
        cooldown_s=round(max(0.0, stats.cooldown_until - now), 3),
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
