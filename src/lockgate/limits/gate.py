"""A model's concurrency gate: at most ``max_in_flight`` calls at once, the rest wait in a
priority queue (high before normal before low, first come first served within a class) for
up to ``queue_timeout``. Per gateway process.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

PRIORITY = {"high": 0, "normal": 1, "low": 2}


class PriorityGate:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def queued(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())

    def resize(self, capacity: int) -> None:
        """A reload changed ``max_in_flight``: admit waiters if there is room now."""
        self.capacity = capacity
        self._wake()

    async def acquire(self, priority: int, wait: float) -> bool:
        """True once a slot is held (release it exactly once); False after ``wait`` seconds."""
        if self.in_flight < self.capacity and not self.queued:
            self.in_flight += 1
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            async with asyncio.timeout(wait):
                await asyncio.shield(fut)
            return True
        except TimeoutError:
            if fut.done():  # granted at the last moment: keep it
                return True
            fut.cancel()
            return False
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted, but the request is gone
            else:
                fut.cancel()
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.capacity:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                self.in_flight += 1
