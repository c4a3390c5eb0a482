"""Active health checks: providers with ``health_check`` are probed in the background.

Each checked provider gets one task that sends ``GET path`` to the provider's host every
``interval`` (the first at once). A 2xx answer within ``timeout`` is healthy; anything else
marks the provider down, which takes all its deployments out of selection (like an open
breaker) until a check passes again. Transitions are logged. Passive health comes from the
circuit breakers. Tasks are restarted on each config reload; a provider's last result is kept
while its check settings are unchanged. Each worker process checks on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.config.models import HealthCheck
from lockgate.providers.base import HttpProvider

if TYPE_CHECKING:
    from lockgate.runtime import Runtime

log = logging.getLogger("lockgate.routing")


@dataclass(frozen=True, slots=True)
class Health:
    provider: str
    healthy: bool
    checked_at: float  # wall clock, epoch seconds
    reason: str | None = None


class HealthMonitor:
    def __init__(
        self,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._sleep = sleep
        self._wall = wall
        self.down: set[str] = set()  # providers whose last check failed
        self.status: dict[str, Health] = {}
        self._checks: dict[str, HealthCheck] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def configure(self, runtime: Runtime) -> None:
        """Check the providers of this config (call in the event loop)."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks = {}
        wanted = {
            name: p.health_check
            for name, p in runtime.config.providers.items()
            if p.health_check is not None
        }
        for name in list(self.status):
            if self._checks.get(name) != wanted.get(name):
                self.status.pop(name, None)
                self.down.discard(name)
        self._checks = dict(wanted)
        loop = asyncio.get_running_loop()
        for name, check in wanted.items():
            provider = runtime.providers[name]
            if isinstance(provider, HttpProvider):
                self._tasks[name] = loop.create_task(
                    self._loop(name, provider, check), name=f"lockgate-health-{name}"
                )

    async def _loop(self, name: str, provider: HttpProvider, check: HealthCheck) -> None:
        while True:
            await self.check(name, provider, check)
            await self._sleep(check.interval)

    async def check(self, name: str, provider: HttpProvider, check: HealthCheck) -> Health:
        """One check of one provider; records and returns the result."""
        try:
            reason = await provider.check_health(check.path, check.timeout)
        except Exception as exc:  # a check must never kill its task
            reason = f"check failed: {type(exc).__name__}"
        health = Health(name, reason is None, self._wall(), reason)
        before = self.status.get(name)
        self.status[name] = health
        if health.healthy:
            self.down.discard(name)
            if before is not None and not before.healthy:
                log.warning("provider %s is healthy again (%s)", name, check.path)
        else:
            self.down.add(name)
            if before is None or before.healthy:
                log.warning("provider %s failed its health check: %s", name, reason)
        return health

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks = {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
