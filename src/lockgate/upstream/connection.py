"""One keep-alive HTTP/1.1 connection to an upstream: an asyncio Protocol fed to httptools.

The connection parses straight into the ``UpstreamResponse`` of the exchange in flight and
hands itself back to its pool the moment the response's last byte is parsed, so a slow consumer
never holds a pooled connection. A single timer per exchange enforces the first-byte, idle and
total timeouts: it re-arms lazily, so a body chunk costs one ``loop.time()`` call, not a timer.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from lockgate.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout

if TYPE_CHECKING:
    from lockgate.upstream.request import Timeouts
    from lockgate.upstream.response import UpstreamResponse

HIGH_WATER = 256 * 1024
# Timer handles may fire a hair early; treat a deadline this close as reached.
_SLACK = 1e-3


class ConnectionOwner(Protocol):
    """What a connection needs from its pool."""

    def release(self, conn: Connection, reusable: bool) -> None: ...

    def retire(self, conn: Connection) -> None: ...


class _HeadersTooLarge(Exception):
    pass


class Connection(asyncio.Protocol):
    def __init__(
        self, owner: ConnectionOwner, loop: asyncio.AbstractEventLoop, max_header_bytes: int
    ) -> None:
        self._owner = owner
        self._loop = loop
        self._max_header_bytes = max_header_bytes
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self.retired = False
        self.served = 0  # completed exchanges: a failure before any byte on a reused one is stale
        self.idle_since = 0.0
        self.paused = False
        self._resp: UpstreamResponse | None = None
        self._headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._raw_header_bytes = 0
        self._headers_done = False
        self._complete = False
        self._got_bytes = False
        self._keep_alive = False
        self._head = False
        self._interim = False
        self._has_length = False
        self._chunked = False
        self._until_close = False
        self._new_parser = False
        self._timer: asyncio.TimerHandle | None = None
        self._timeouts: Timeouts | None = None
        self._deadline = 0.0
        self._first_byte_deadline = 0.0
        self._last_activity = 0.0

    # -- exchange ------------------------------------------------------------------------

    def usable(self) -> bool:
        return not self.closed and self._transport is not None and not self._transport.is_closing()

    def start(
        self,
        resp: UpstreamResponse,
        head: bytes,
        body: bytes,
        is_head: bool,
        timeouts: Timeouts,
        deadline: float,
    ) -> None:
        """Write one request and route what comes back into ``resp``."""
        if self._new_parser:
            # A HEAD response left the parser expecting a body that never comes.
            self._parser = httptools.HttpResponseParser(self)
            self._new_parser = False
        self._resp = resp
        self._headers = []
        self._header_bytes = self._raw_header_bytes = 0
        self._headers_done = self._complete = self._got_bytes = self._interim = False
        self._has_length = self._chunked = self._until_close = False
        self._head = is_head
        self._timeouts = timeouts
        self._deadline = deadline
        now = self._loop.time()
        self._first_byte_deadline = now + timeouts.first_byte
        # The timer re-arms lazily when it fires, so one armed for an earlier exchange on this
        # connection serves as is: no new timer per request. It must never fire later than the
        # first idle deadline, though, which is where the body phase starts being checked.
        due = min(deadline, self._first_byte_deadline, now + timeouts.idle)
        timer = self._timer
        if timer is None or timer.when() > due:
            if timer is not None:
                timer.cancel()
            self._arm(due)
        transport = self._transport
        assert transport is not None
        # One write, one send syscall: on loopback a send costs as much as all the parsing.
        transport.write(head + body if body else head)

    def abort(self) -> None:
        """Close now and give the slot back (never reused): errors, cancellation, early close."""
        self._resp = None
        if not self.closed:
            self.closed = True
            self._cancel_timer()
            if self._transport is not None:
                self._transport.abort()
        self._owner.retire(self)

    def close(self) -> None:
        """Close gracefully (flushing writes) and give the slot back."""
        self._resp = None
        if not self.closed:
            self.closed = True
            self._cancel_timer()
            if self._transport is not None:
                self._transport.close()
        self._owner.retire(self)

    def resume(self) -> None:
        """The consumer drained what was queued: read from the upstream again."""
        if self.paused:
            self.paused = False
            self._last_activity = self._loop.time()
            if self._transport is not None and not self.closed:
                self._transport.resume_reading()
            if self._resp is not None and self._timeouts is not None:
                # While paused the timer only watched the total deadline.
                self._cancel_timer()
                self._arm(min(self._deadline, self._last_activity + self._timeouts.idle))

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        resp = self._resp
        if resp is None:
            # Bytes nobody asked for: the stream is out of step, so it can't be reused.
            self.abort()
            return
        self._got_bytes = True
        self._last_activity = self._loop.time()
        if not self._headers_done:
            self._raw_header_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(UpstreamProtocolError("upstream tried to switch protocols"))
            return
        except httptools.HttpParserCallbackError as exc:
            self.fail(self._callback_error(exc))
            return
        except httptools.HttpParserError as exc:
            self.fail(UpstreamProtocolError(f"malformed upstream response: {exc}"))
            return
        if self._complete:
            self._finish()
        elif not self._headers_done and self._raw_header_bytes > self._max_header_bytes:
            # Also catches one endless header line, which httptools buffers without a callback.
            self.fail(self._headers_too_large())

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost decides what EOF meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        if self._resp is None:
            self._owner.retire(self)
            return
        if self._headers_done and self._until_close and not self._complete:
            # No length and not chunked: the body ends when the upstream closes.
            self._complete = True
            self._keep_alive = False
            self._finish()
            return
        if not self._got_bytes:
            err: Exception = UpstreamConnectError(
                "upstream closed the connection before sending a response"
            )
            self._resp._stale = self.served > 0
        elif not self._headers_done:
            err = UpstreamProtocolError("upstream closed the connection inside response headers")
        else:
            err = UpstreamProtocolError("upstream closed the connection before the body ended")
        self.fail(err)

    def pause_writing(self) -> None:
        pass  # requests are written once; the transport buffers what the kernel won't take

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            self._keep_alive = False  # a second response we never asked for

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self._max_header_bytes:
            raise _HeadersTooLarge
        lname = name.lower()
        if lname == b"content-length":
            self._has_length = True
        elif lname == b"transfer-encoding":
            self._chunked = value.rstrip().lower().endswith(b"chunked")
        self._headers.append((lname.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:
                raise httptools.HttpParserUpgrade("101")
            # Interim (1xx) responses carry no body and precede the real one: drop them.
            self._interim = True
            self._headers = []
            self._has_length = self._chunked = False
            return
        resp = self._resp
        assert resp is not None
        resp.status = status
        resp.headers = self._headers
        self._headers_done = True
        self._keep_alive = self._parser.should_keep_alive()
        if self._head:
            self._complete = True
            self._new_parser = True
        elif status != 204 and status != 304:
            self._until_close = not self._has_length and not self._chunked
        resp._wake()

    def on_body(self, body: bytes) -> None:
        resp = self._resp
        if resp is None or self._complete:
            self._keep_alive = False  # body bytes after a HEAD response: out of step
            return
        resp._chunks.append(body)
        resp._buffered += len(body)
        if resp._buffered > resp._high_water and not self.paused:
            self.paused = True
            assert self._transport is not None
            self._transport.pause_reading()
        resp._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        else:
            self._complete = True

    # -- internals -----------------------------------------------------------------------

    def _finish(self) -> None:
        resp = self._resp
        assert resp is not None
        self._resp = None
        resp._done = True
        resp._conn = None
        resp._wake()
        self.served += 1
        if self.paused:
            self.paused = False
            if self._transport is not None and not self.closed:
                self._transport.resume_reading()
        self._owner.release(self, self._keep_alive and not self.closed)

    def fail(self, err: Exception) -> None:
        """Close and report ``err`` to the exchange in flight, if any."""
        resp = self._resp
        self.abort()
        if resp is not None:
            if resp._error is None:
                resp._error = err
            resp._conn = None
            resp._wake()

    def _callback_error(self, exc: httptools.HttpParserCallbackError) -> Exception:
        cause = exc.__context__
        if isinstance(cause, _HeadersTooLarge):
            return self._headers_too_large()
        if isinstance(cause, httptools.HttpParserUpgrade):
            return UpstreamProtocolError("upstream tried to switch protocols")
        return UpstreamProtocolError("malformed upstream response")

    def _headers_too_large(self) -> UpstreamProtocolError:
        return UpstreamProtocolError(
            f"upstream response headers exceed {self._max_header_bytes} bytes"
        )

    def _arm(self, when: float) -> None:
        if when != float("inf"):
            self._timer = self._loop.call_at(when, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        t = self._timeouts
        if self._resp is None or t is None:
            return  # armed for an exchange that has ended
        now = self._loop.time() + _SLACK
        if now >= self._deadline:
            self.fail(UpstreamTimeout(f"upstream exceeded the total timeout ({t.total}s)"))
            return
        if not self._headers_done:
            due = self._first_byte_deadline
            if now >= due:
                self.fail(
                    UpstreamTimeout(
                        f"upstream sent no response headers within the first byte timeout "
                        f"({t.first_byte}s)"
                    )
                )
                return
        elif self.paused:
            due = float("inf")  # the consumer is slow, not the upstream
        else:
            due = self._last_activity + t.idle
            if now >= due:
                self.fail(
                    UpstreamTimeout(f"upstream body stalled past the idle timeout ({t.idle}s)")
                )
                return
        self._arm(min(due, self._deadline))
