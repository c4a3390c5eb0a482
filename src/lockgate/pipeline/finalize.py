"""Completion: what runs once per request after its response, whatever ended it.

``finish`` is synchronous, so neither a client abort nor a second cancellation at shutdown can
interrupt it half-way: it prices the call, runs the policies' synchronous ``on_complete``
hooks (settlement), then the recorders (usage records, metrics). Asynchronous hooks become
tasks tracked here, which the gateway drains when it shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from lockgate.pipeline.context import RequestContext
from lockgate.usage.cost import request_cost

log = logging.getLogger("lockgate.pipeline")

Recorder = Callable[[RequestContext], None]


class Finalizer:
    def __init__(self) -> None:
        self.recorders: list[Recorder] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def finish(self, ctx: RequestContext) -> None:
        if ctx.usage is not None and ctx.target is not None:
            ctx.cost = request_cost(ctx.usage, ctx.target.price)
        pending = ctx.runtime.pipeline.complete(ctx)
        for record in self.recorders:
            try:
                record(ctx)
            except Exception:
                log.exception("recorder %r failed", record)
        if pending:
            task = asyncio.get_running_loop().create_task(_all(pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float = 10.0) -> None:
        """Wait for outstanding asynchronous completions (at shutdown)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.warning("%d request completions did not finish at shutdown", len(late))
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*late, return_exceptions=True)


async def _all(pending: list[Awaitable[None]]) -> None:
    for awaitable in pending:
        await awaitable
