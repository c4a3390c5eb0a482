"""One request/response exchange: the ASGI ``receive``/``send`` pair and the app task body."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from lockgate.serving import wire

if TYPE_CHECKING:
    from lockgate.serving.context import ASGIApp, Message, Scope
    from lockgate.serving.protocol import HttpProtocol

log = logging.getLogger("lockgate.serving")

# Above this size the body is written on its own rather than copied behind the head: a copy
# of a large buffer costs more than the extra syscall it saves.
COALESCE_MAX: Final = 256 * 1024
NO_BODY_STATUS: Final = frozenset({204, 304})


class RequestCycle:
    __slots__ = (
        "admitted",
        "body",
        "body_complete",
        "body_deadline",
        "body_done",
        "chunked",
        "complete",
        "conn",
        "expect_100",
        "finished",
        "head",
        "headers",
        "is_head",
        "keep_alive",
        "lost",
        "no_body",
        "remaining",
        "scope",
        "started",
        "status",
        "waiter",
    )

    def __init__(
        self, conn: HttpProtocol, scope: Scope, keep_alive: bool, expect_100: bool
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_100 = expect_100
        self.is_head = scope["method"] == "HEAD"
        self.body = b""
        self.body_complete = False  # the parser saw the end of the request body
        self.body_done = False  # the app was handed the end of the request body
        self.body_deadline = 0.0  # loop time by which the whole body must have arrived
        self.started = False
        self.head = True  # the response head is still to be written
        self.complete = False
        self.finished = False  # the app task ended
        self.status: Any = 200
        self.headers: Any = ()
        self.chunked = False
        self.no_body = False
        self.remaining = -1  # response bytes still owed under the app's content-length
        self.waiter: asyncio.Future[None] | None = None
        self.lost: Callable[[], object] | None = None  # see context.ON_DISCONNECT
        self.admitted = False  # counted in the server's requests in flight

    def on_disconnect(self, callback: Callable[[], object] | None) -> None:
        self.lost = callback
        if self.conn.closed:
            self.connection_closed()  # already gone: say so now rather than never

    def connection_closed(self) -> None:
        """The connection closed: tell the app if its response is not complete yet."""
        callback = self.lost
        if callback is not None and not self.complete:
            self.lost = None
            callback()
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, app: ASGIApp) -> None:
        conn = self.conn
        try:
            try:
                await app(self.scope, self.receive, self.send)
            finally:
                self.lost = None  # the app is over: closing from here on concerns only us
                # scope -> extensions -> self.on_disconnect -> self -> scope: break the cycle
                # so the request is freed by reference counting, not by the cyclic collector.
                self.scope.pop("extensions", None)
        except asyncio.CancelledError:
            # Only the server cancels app tasks (client gone at forced shutdown): not an error.
            conn.close()
        except Exception:
            log.exception("Exception in ASGI application")
            self.fail()
        else:
            if not self.complete and not conn.closed:
                log.error("ASGI application returned without completing the response")
                self.fail()
        finally:
            self.finished = True
            conn.cycle_done(self)

    def fail(self) -> None:
        conn = self.conn
        if self.head and not conn.closed and conn.transport is not None:
            conn.transport.write(conn.refusal(500))
        conn.close()

    async def receive(self) -> Message:
        conn = self.conn
        while not conn.closed:
            if not self.body_done:
                if self.body or self.body_complete:
                    body = self.body
                    self.body = b""
                    more = not self.body_complete
                    self.body_done = not more
                    conn.consumed(len(body))
                    return {"type": "http.request", "body": body, "more_body": more}
                if self.expect_100:
                    # The client waits for this before sending the body it announced.
                    self.expect_100 = False
                    if not self.started and conn.transport is not None:
                        conn.transport.write(wire.CONTINUE)
                timer: asyncio.TimerHandle | None = self.body_timer()
            elif self.complete:
                break
            else:
                timer = None  # a disconnect watcher: the client owes nothing
            self.waiter = waiter = conn.loop.create_future()
            try:
                await waiter
            finally:
                self.waiter = None
                if timer is not None:
                    timer.cancel()
        return {"type": "http.disconnect"}

    def body_timer(self) -> asyncio.TimerHandle:
        """Bound the wait for the next body bytes, and for the whole body from the first wait."""
        loop = self.conn.loop
        now = loop.time()
        timeout = self.conn.limits.body_timeout
        if not self.body_deadline:
            self.body_deadline = now + 4 * timeout
        return loop.call_at(min(now + timeout, self.body_deadline), self.body_expired)

    def body_expired(self) -> None:
        conn = self.conn
        if self.body or self.body_complete or conn.closed:
            return  # bytes came in the same loop turn: receive() has them
        if self.head:
            conn.write(conn.refusal(408))
        conn.close()  # wakes receive(), which reports http.disconnect

    async def send(self, message: Message) -> None:
        conn = self.conn
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started or self.complete:
                raise RuntimeError("http.response.body sent outside of a response")
            if conn.closed:
                # Let a disconnect watcher run even if the app streams without other awaits.
                await asyncio.sleep(0)
                return
            more = message.get("more_body", False)
            data = self.frame(message.get("body", b""), more)
            if data:
                conn.write(data)
            if not more:
                self.complete = True
                conn.response_complete(self)
            elif conn.write_paused:
                await conn.drain()
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = message["status"]
            self.headers = message.get("headers", ())
        elif kind != "http.response.trailers":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def frame(self, body: bytes, more: bool) -> bytes:
        """The bytes for one body message, behind the response head on the first one."""
        if self.remaining >= 0:
            self.remaining -= len(body)
            if self.remaining < 0 or (not more and self.remaining):
                self.keep_alive = False
                raise RuntimeError("response body does not match its content-length")
        if self.head:
            head = self.build_head(len(body), more)
            if self.no_body or not body:
                return head
            if len(body) > COALESCE_MAX:
                self.conn.write(head)
                return body
            if self.chunked:
                tail = wire.LAST_CHUNK if not more else b""
                return b"".join((head, b"%x\r\n" % len(body), body, b"\r\n", tail))
            return head + body
        if self.no_body:
            return b""
        if self.chunked:
            if not body:
                return b"" if more else wire.LAST_CHUNK
            tail = b"\r\n0\r\n\r\n" if not more else b"\r\n"
            return b"".join((b"%x\r\n" % len(body), body, tail))
        return body

    def build_head(self, size: int, more: bool) -> bytes:
        ctx = self.conn.ctx
        names = ctx.names
        status = self.status
        parts = [wire.status_line(status), ctx.date_server]
        lines = 3  # status line, date, server
        length: bytes | None = None
        connection = False
        for name, value in self.headers:
            lowered = wire.lower_name(name, names)
            if lowered == b"content-length":
                length = value
            elif lowered == b"transfer-encoding":
                continue  # framing is ours to choose
            elif lowered == b"connection":
                connection = True
                if b"close" in value.lower():
                    self.keep_alive = False
            parts += (lowered, b": ", value, b"\r\n")
            lines += 1
        self.no_body = self.is_head or status in NO_BODY_STATUS or status < 200
        if length is not None:
            self.set_length(length, size, more)
        elif status in NO_BODY_STATUS or status < 200:
            pass
        elif not more:
            parts.append(b"content-length: %d\r\n" % size)
            lines += 1
        elif self.scope["http_version"] == "1.1":
            self.chunked = True
            parts.append(wire.CHUNKED)
            lines += 1
        else:
            self.keep_alive = False  # HTTP/1.0 without a length: the close ends the body
        if self.conn.ctx.shutting_down:
            self.keep_alive = False
        if not connection:
            if not self.keep_alive:
                parts.append(wire.CLOSE)
                lines += 1
            elif self.scope["http_version"] == "1.0":
                parts.append(wire.KEEP_ALIVE)
                lines += 1
        parts.append(b"\r\n")
        head = b"".join(parts)
        wire.check_head(head, lines + 1)
        self.head = False
        return head

    def set_length(self, length: bytes, size: int, more: bool) -> None:
        try:
            declared = int(length)
        except ValueError:
            raise RuntimeError(f"invalid response content-length {length!r}") from None
        if declared < 0:
            raise RuntimeError(f"invalid response content-length {length!r}")
        if not self.no_body:
            # Later body messages are counted against this in frame().
            self.remaining = declared - size
            if self.remaining < 0 or (not more and self.remaining):
                self.keep_alive = False
                raise RuntimeError("response body does not match its content-length")
