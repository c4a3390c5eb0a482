"""``subscription.*`` webhook events, sent by exactly one gateway per decision.

Each decision is written to the store's event table in the transaction that makes it (the
audit trail). A gateway that loads an identity snapshot with unannounced events claims them
(an atomic conditional update: one claimant per event, across replicas) and emits each through
the alert dispatcher. So a decision made with the CLI straight on the store is announced too,
by the first gateway that notices it; with no gateway running, at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from lockgate.errors import describe
from lockgate.store.product_records import SubscriptionEvent

log = logging.getLogger("lockgate.apis")


class EventSource(Protocol):
    def claim_events(self, limit: int = 500) -> list[SubscriptionEvent]: ...


class StoreWithProducts(Protocol):
    @property
    def products(self) -> EventSource: ...


class Emitter(Protocol):
    def emit(self, event: str, data: dict[str, Any]) -> None: ...


def event_data(e: SubscriptionEvent) -> dict[str, Any]:
    return {**e.data, "at": e.at.isoformat().replace("+00:00", "Z")}


class Announcer:
    def __init__(self, store: StoreWithProducts, alerts: Emitter) -> None:
        self._store = store
        self._alerts = alerts
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.announced = 0

    def wake(self) -> None:
        """Claim and send what is pending, in the background (called on the event loop)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="lockgate-subscription-events"
        )

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                events = await asyncio.to_thread(self._store.products.claim_events)
            except Exception as exc:  # the next snapshot with pending events tries again
                log.warning("subscription events not claimed", extra=describe(exc))
                return
            for e in events:
                self._alerts.emit(e.event, event_data(e))
            self.announced += len(events)
            if not events and not self._again:
                return

    async def idle(self) -> None:
        """Wait until nothing is being announced (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def stop(self, grace: float = 5.0) -> None:
        """Let a claim in progress be sent (claimed events are not claimable again), then
        stop."""
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(task), grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
