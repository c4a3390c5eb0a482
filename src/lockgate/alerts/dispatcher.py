"""The alert dispatcher: every event is logged once and delivered to the webhooks that want it.

``emit`` never blocks and never fails the caller: events go into a bounded queue that one
background task drains, delivering to each subscribed webhook with retries and exponential
backoff (connection errors, timeouts, 408/429/5xx). A full queue drops the event with a log
line and a count. De-duplication (one ``budget.threshold`` per threshold per period,
cluster-wide) is the emitter's business; delivery is at least once per emitted event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from lockgate.alerts.delivery import RETRY_STATUSES, WebhookTarget, build_request
from lockgate.alerts.events import matches
from lockgate.errors import UpstreamError
from lockgate.upstream import Timeouts, UpstreamClient, UpstreamRequest

log = logging.getLogger("lockgate.alerts")

TIMEOUTS = Timeouts(connect=5.0, first_byte=10.0, idle=10.0, total=15.0)


class AlertDispatcher:
    def __init__(
        self,
        client: UpstreamClient,
        *,
        attempts: int = 5,
        backoff: float = 1.0,
        queue_size: int = 1000,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._targets: tuple[WebhookTarget, ...] = ()
        self._queue: asyncio.Queue[tuple[WebhookTarget, str, bytes, str]] = asyncio.Queue(
            queue_size
        )
        self._task: asyncio.Task[None] | None = None
        self.emitted = 0
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def configure(self, targets: Iterable[WebhookTarget]) -> None:
        """The webhooks of the current config (called at start and on each reload)."""
        self._targets = tuple(targets)

    def emit(self, event: str, data: dict[str, Any]) -> None:
        now = self._clock()
        delivery_id = "evt_" + os.urandom(8).hex()
        doc = {
            "id": delivery_id,
            "event": event,
            "time": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
        }
        body = orjson.dumps(doc)
        self.emitted += 1
        log.warning("alert %s %s", event, body.decode())
        for target in self._targets:
            if target.events and not any(matches(p, event) for p in target.events):
                continue
            try:
                self._queue.put_nowait((target, event, body, delivery_id))
            except asyncio.QueueFull:
                self.dropped += 1
                log.error("alert %s not delivered to %s: the queue is full", event, target.url)
                continue
            self._ensure_worker()

    def _ensure_worker(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._work(), name="lockgate-alerts"
            )

    async def _work(self) -> None:
        while True:
            target, event, body, delivery_id = await self._queue.get()
            try:
                await self._deliver(target, event, body, delivery_id)
            finally:
                self._queue.task_done()

    async def _deliver(self, target: WebhookTarget, event: str, body: bytes, did: str) -> None:
        attempt = 0
        while True:
            attempt += 1
            timestamp = str(int(self._clock()))
            failure, retry = await self._post(build_request(target, event, did, timestamp, body))
            if failure is None:
                self.delivered += 1
                return
            if not retry or attempt >= self._attempts:
                break
            await self._sleep(min(60.0, self._backoff * 2 ** (attempt - 1)))
        self.failed += 1
        log.error(
            "alert %s to %s failed after %d attempt(s): %s", event, target.url, attempt, failure
        )

    async def _post(self, request: UpstreamRequest) -> tuple[str | None, bool]:
        """(None, _) when delivered, else (why not, whether a retry may help)."""
        try:
            response = await self._client.send(request, TIMEOUTS)
            try:
                await response.read(64 * 1024)
            finally:
                await response.aclose()
        except (UpstreamError, OSError, ValueError) as err:
            return type(err).__name__, True
        if 200 <= response.status < 300:
            return None, False
        return f"HTTP {response.status}", response.status in RETRY_STATUSES

    async def aclose(self, grace: float = 2.0) -> None:
        """Give queued deliveries a short grace, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
