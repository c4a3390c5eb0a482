"""The usage pipeline off the hot path: a bounded queue, sinks, and a batch writer.

On the hot path ``UsageQueue.record`` appends one tuple (``record.capture``) to a deque and
returns; a full queue drops the record and counts it. Nothing waits for the store.

A pump task drains the queue every ``flush_interval`` (sooner when a batch is full), expands
each record once and hands the batch to the sinks (metrics, alerts, request log, traces, audit
of denials), then to the pending list of the store. A flush task writes pending rows in batches
in a thread; a store that is slow or down only delays it: rows stay pending (bounded, with a
drop counter and a log line when full) and the write is retried with backoff. At shutdown the
writer gets a grace period to write what is pending.

``kept`` counts records accepted for writing; each is either written or, only if the process
ends while the store is still down, reported as ``lost`` in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from lockgate.store.usage_repo import PayloadRow, UsageRow
from lockgate.usage.record import Captured, Expanded, capture, expand

if TYPE_CHECKING:
    from lockgate.pipeline.context import RequestContext

log = logging.getLogger("lockgate.usage")

WriteBatch = Callable[[Sequence[UsageRow], Sequence[PayloadRow], bool], int]  # retry flag
MAX_BACKOFF = 30.0


class Sink(Protocol):
    def consume(self, batch: Sequence[Expanded]) -> None: ...


class UsageQueue:
    """The hot-path half: the finalizer recorder."""

    __slots__ = ("_items", "batch_size", "capacity", "dropped", "wake")

    def __init__(self, capacity: int, batch_size: int) -> None:
        self._items: deque[Captured] = deque()
        self.capacity = capacity
        self.batch_size = batch_size
        self.dropped = 0
        self.wake = asyncio.Event()

    def __call__(self, ctx: RequestContext) -> None:
        items = self._items
        n = len(items)
        if n >= self.capacity:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error("usage queue full: %d records dropped so far", self.dropped)
            return
        items.append(capture(ctx))
        if n + 1 == self.batch_size:
            self.wake.set()

    def __len__(self) -> int:
        return len(self._items)

    def take(self) -> list[Captured]:
        items = self._items
        out = list(items)
        items.clear()
        return out


class UsageWriter:
    def __init__(
        self,
        queue: UsageQueue,
        write: WriteBatch,
        *,
        sinks: Sequence[Sink] = (),
        flush_interval: float = 1.0,
        max_pending: int = 100_000,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.queue = queue
        self._write = write
        self.sinks = list(sinks)
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self._sleep = sleep
        self._pending: deque[Expanded] = deque()
        self._has_pending = asyncio.Event()
        self._writing = asyncio.Lock()  # one batch in flight: the flush task or flush()/stop()
        self._tasks: list[asyncio.Task[None]] = []
        self.kept = 0
        self.written = 0
        self.dropped = 0  # pending list full
        self.failures = 0  # failed write attempts
        self._outage = False

    # --- the hot path's view -----------------------------------------------------------------

    @property
    def backlog(self) -> int:
        return len(self._pending)

    @property
    def total_dropped(self) -> int:
        return self.queue.dropped + self.dropped

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._pump_loop(), name="lockgate-usage-pump"),
            loop.create_task(self._flush_loop(), name="lockgate-usage-flush"),
        ]

    async def stop(self, grace: float = 10.0) -> None:
        """Pump what is queued and write what is pending, for up to ``grace`` seconds."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.pump()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain_pending(retry=True), grace)
        if self._pending:
            log.error(
                "%d usage records could not be written before shutdown (the store failed)",
                len(self._pending),
            )

    async def flush(self) -> None:
        """Pump and write everything recorded so far (raises if the store fails)."""
        self.pump()
        await self._drain_pending(retry=False)

    # --- pump ----------------------------------------------------------------------------------

    async def _pump_loop(self) -> None:
        wake = self.queue.wake
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as its timeout fires, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await wake.wait()
            wake.clear()
            self.pump()

    def pump(self) -> None:
        records = self.queue.take()
        if not records:
            return
        batch = [expand(r) for r in records]
        for sink in self.sinks:
            try:
                sink.consume(batch)
            except Exception:
                log.exception("usage sink %s failed", type(sink).__name__)
        room = self.max_pending - len(self._pending)
        if len(batch) > room:
            lost = len(batch) - max(room, 0)
            self.dropped += lost
            log.error(
                "usage store cannot keep up: %d records dropped (%d pending, %d dropped in all)",
                lost,
                len(self._pending),
                self.total_dropped,
            )
            batch = batch[: max(room, 0)]
        self._pending.extend(batch)
        self.kept += len(batch)
        if self._pending:
            self._has_pending.set()

    # --- flush ---------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        delay = 0.0
        while True:
            await self._has_pending.wait()
            if delay:
                await self._sleep(delay)
            try:
                await self._drain_pending(retry=False)
                delay = 0.0
            except Exception:
                delay = min(MAX_BACKOFF, max(0.25, delay * 2))

    async def _drain_pending(self, *, retry: bool) -> None:
        async with self._writing:
            await self._drain_locked(retry)

    async def _drain_locked(self, retry: bool) -> None:
        while self._pending:
            batch = [
                self._pending[i] for i in range(min(self.queue.batch_size, len(self._pending)))
            ]
            try:
                await asyncio.to_thread(
                    self._write,
                    [e.row for e in batch],
                    [e.payload for e in batch if e.payload is not None],
                    self._outage,  # after a failure, rows may already be stored
                )
            except Exception as exc:
                self.failures += 1
                if not self._outage:
                    self._outage = True
                    log.error(
                        "usage store write failed (%s); %d records pending, retrying",
                        type(exc).__name__,
                        len(self._pending),
                    )
                if not retry:
                    raise
                await self._sleep(0.5)
                continue
            if self._outage:
                self._outage = False
                log.warning("usage store writes resumed; %d records pending", len(self._pending))
            for _ in batch:
                self._pending.popleft()
            self.written += len(batch)
        self._has_pending.clear()
