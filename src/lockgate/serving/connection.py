"""Transport plumbing of one connection: writes, flow control both ways, closing, timeouts.

``HttpProtocol`` (protocol.py) adds HTTP/1.1 parsing and the request lifecycle on top.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from lockgate.serving import wire
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
        "linger_end",
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
        self.linger_end = 0.0  # loop time a lingering close gives up; 0 = not lingering

    # --- writing -----------------------------------------------------------------------------

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def refusal(
        self, status: int, message: str | None = None, retry_after: int = 0, close: bool = True
    ) -> bytes:
        """The server's own error response (JSON, with an ``x-request-id``)."""
        ctx = self.ctx
        return wire.canned(status, ctx.date_server, ctx.ids.next(), message, retry_after, close)

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

    def linger(self, within: float | None = None) -> None:
        """Close a connection whose client may still be sending: FIN first, then discard.

        A plain close with unread bytes in the socket sends a reset, and a client still
        uploading would lose the answer it has not read yet (a 413, say). Instead the response
        is flushed and followed by FIN, what still arrives is read and dropped (``closed`` makes
        ``data_received`` ignore it), and the socket closes when the client closes its side,
        falls silent for ``linger_timeout``, or after ``linger_time`` in all.
        """
        if self.closed:
            return
        transport = self.transport
        if transport is None or not _can_write_eof(transport):
            self.close()
            return
        self.closed = True
        if self.read_paused:
            self.read_paused = False
            transport.resume_reading()
        transport.write_eof()
        self.wake_all()  # before arming: it cancels the connection's timer
        total = self.limits.linger_time if within is None else within
        self.linger_end = self.loop.time() + total
        self.arm_linger()

    def arm_linger(self) -> None:
        """(Re)start the silence timer; past the overall end, abort."""
        now = self.loop.time()
        if self.timer is not None:
            self.timer.cancel()
        if now >= self.linger_end:
            self.timer = None
            self.abort()
            return
        wait = min(self.limits.linger_timeout, self.linger_end - now)
        self.timer = self.loop.call_at(now + wait, self.abort)

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


def _can_write_eof(transport: asyncio.Transport) -> bool:
    try:
        return transport.can_write_eof()
    except NotImplementedError:  # the base class's answer
        return False
