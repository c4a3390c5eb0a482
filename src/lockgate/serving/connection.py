"""Transport plumbing of one connection: writes, flow control both ways, closing, timeouts.

``HttpProtocol`` (protocol.py) adds HTTP/1.1 parsing and the request lifecycle on top.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from lockgate.serving.context import BODY_HIGH_WATER, ServerContext

if TYPE_CHECKING:
    from lockgate.serving.cycle import RequestCycle


class Connection(asyncio.Protocol):
    __slots__ = (
        "active",
        "buffered",
        "closed",
        "ctx",
        "deadline",
        "drain_waiter",
        "failed",
        "head_timer",
        "limits",
        "loop",
        "pipeline",
        "read_paused",
        "timer",
        "transport",
        "write_paused",
    )

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.loop = ctx.loop
        self.limits = ctx.limits
        self.transport: asyncio.Transport | None = None
        self.active: RequestCycle | None = None  # the request whose app task runs
        self.pipeline: deque[RequestCycle] = deque()
        self.failed = 0  # status of a rejected request waiting for the active one to end
        self.closed = False
        self.read_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.buffered = 0  # request body bytes not yet handed to the app
        self.deadline = 0.0  # loop time when the idle/head/discard timeout fires; 0 = none
        self.head_timer = False
        self.timer: asyncio.TimerHandle | None = None

    # --- writing -----------------------------------------------------------------------------

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the client reads; one that stops reading is dropped after send_timeout."""
        waiter = self.drain_waiter
        if waiter is None or waiter.done():
            self.drain_waiter = waiter = self.loop.create_future()
        timer = self.loop.call_later(self.limits.send_timeout, self.send_expired)
        try:
            await waiter
        finally:
            timer.cancel()

    def send_expired(self) -> None:
        if self.write_paused:
            # abort, not close: close() would wait for the client to read the buffer first.
            self.abort()

    # --- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.close()
            if self.write_paused:
                # close() flushes first; a client that never reads would hold the buffer forever.
                self.loop.call_later(self.limits.send_timeout, self.abort)
        self.wake_all()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.wake_all()

    def wake_all(self) -> None:
        if self.active is not None:
            self.active.connection_closed()
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # --- reading -----------------------------------------------------------------------------

    def consumed(self, size: int) -> None:
        self.buffered -= size
        if self.read_paused:
            self.update_reading()

    def update_reading(self) -> None:
        if self.transport is None or self.closed:
            return
        pause = (
            self.failed != 0
            or len(self.pipeline) >= self.limits.max_pipelined
            or self.buffered > BODY_HIGH_WATER
        )
        if pause != self.read_paused:
            self.read_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    # --- timeouts between requests: one timer, moved only when a deadline comes sooner -------

    def arm(self, seconds: float, *, head: bool) -> None:
        deadline = self.loop.time() + seconds
        self.deadline = deadline
        self.head_timer = head
        timer = self.timer
        if timer is None:
            self.timer = self.loop.call_at(deadline, self.on_timer)
        elif timer.when() > deadline:
            timer.cancel()
            self.timer = self.loop.call_at(deadline, self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        deadline = self.deadline
        if not deadline or self.closed or self.active is not None:
            return
        if self.loop.time() < deadline:
            self.timer = self.loop.call_at(deadline, self.on_timer)
        else:
            self.close()
