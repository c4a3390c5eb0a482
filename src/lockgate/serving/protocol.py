"""One HTTP/1.1 connection: httptools parsing, framing checks, the request lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, Final
from urllib.parse import unquote_to_bytes

import httptools

from lockgate.serving import tls
from lockgate.serving.connection import Connection
from lockgate.serving.context import BODY_HIGH_WATER, ON_DISCONNECT, ServerContext
from lockgate.serving.cycle import RequestCycle

METHODS: Final = {m: m.decode() for m in (b"GET", b"POST", b"HEAD", b"PUT", b"DELETE")}
# Registered transfer codings (RFC 9110 section 18.8): a request using only these but not as
# exactly "chunked" is malformed (400); one naming anything else asks for what we lack (501).
KNOWN_CODINGS: Final = frozenset(
    {b"chunked", b"compress", b"deflate", b"gzip", b"identity", b"x-compress", b"x-gzip"}
)


class Reject(Exception):
    """Raised inside a parser callback: answer ``status`` (saying ``why``) and close."""

    def __init__(self, status: int, why: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.why = why


def split_target(url: bytes) -> tuple[str, bytes, bytes]:
    """(path, raw_path, query_string) of a request target."""
    if url[:1] == b"/":
        raw_path, _, query = url.partition(b"?")
    else:  # absolute-form or asterisk-form: rare, let httptools take it apart
        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            raise Reject(400) from None
        raw_path, query = parsed.path or b"/", parsed.query or b""
    if b"%" in raw_path:
        return unquote_to_bytes(raw_path).decode("utf-8", "replace"), raw_path, query
    return raw_path.decode("utf-8", "replace"), raw_path, query


class HttpProtocol(Connection):
    __slots__ = (
        "admitted",
        "client",
        "cycle",
        "discard_left",
        "expect_100",
        "has_te",
        "head_bytes",
        "headers",
        "hosts",
        "in_head",
        "parser",
        "raw_head",
        "requests",
        "server",
        "task",
        "tls",
        "url",
    )

    def __init__(self, ctx: ServerContext) -> None:
        super().__init__(ctx)
        self.parser = httptools.HttpRequestParser(self)
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_bytes = 0  # exact size of the parsed part of the current head
        self.raw_head = 0  # bytes received while a head is incomplete
        self.in_head = False
        self.expect_100 = False
        self.has_te = False
        self.hosts = 0
        self.cycle: RequestCycle | None = None  # the request the parser is filling
        self.task: asyncio.Task[None] | None = None
        self.discard_left = 0  # unread body still allowed once the app ended without it
        self.tls: dict[str, str] | None = None  # the verified client certificate's subject
        self.requests = 0  # requests parsed on this connection
        self.admitted = False  # counted against the server's connection caps

    # --- transport callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        _no_delay(transport.get_extra_info("socket"))
        self.client = _address(transport.get_extra_info("peername"))
        self.server = _address(transport.get_extra_info("sockname"))
        if self.ctx.tls:
            self.tls = tls.client_subject(transport)
        self.ctx.connections.add(self)
        overload = self.ctx.overload
        ip = self.client[0] if self.client is not None else None
        if not overload.admit_connection(ip):
            # Over a cap: answer at once, then drop what the client sends for a moment so it
            # reads the 503 instead of a reset. Nothing of this connection is parsed or kept.
            message = overload.connection_refusal(ip)
            self.failed = 503
            self.write(self.refusal(503, message, self.limits.retry_after))
            self.linger(within=min(1.0, self.limits.linger_time))
            return
        self.admitted = True
        self.arm(self.limits.header_timeout, head=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.admitted:
            self.admitted = False
            self.ctx.overload.release_connection(self.client[0] if self.client else None)
        if self.active is None:  # else cycle_done() does it: shutdown waits for app tasks
            self.ctx.connections.discard(self)
        self.wake_all()

    def data_received(self, data: bytes) -> None:
        if self.closed or self.failed:
            if self.linger_end and self.timer is not None:
                self.arm_linger()  # still sending: the silence timer starts over
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            context = exc.__context__
            if isinstance(context, Reject):
                self.reject(context.status, context.why)
            else:
                self.reject(400)
            return
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self.reject(400)
            return
        if self.in_head:
            self.raw_head += len(data)
            if self.raw_head > self.limits.max_header_bytes:
                self.reject(431)
            elif not self.head_timer and self.active is None:
                self.arm(self.limits.header_timeout, head=True)

    def eof_received(self) -> bool | None:
        return None  # half-closed clients get closed: nothing useful can follow

    # --- parser callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.head_bytes = 0
        self.in_head = True
        self.expect_100 = self.has_te = False
        self.hosts = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_bytes += len(url)
        if self.head_bytes > self.limits.max_header_bytes:
            raise Reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value) + 4
        headers = self.headers
        if (
            self.head_bytes > self.limits.max_header_bytes
            or len(headers) >= self.limits.max_headers
        ):
            raise Reject(431)
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace; it is not the value
        if name == b"host":
            self.hosts += 1
        elif name == b"expect":
            self.expect_100 = value.lower() == b"100-continue"
        elif name == b"transfer-encoding":
            if self.has_te or value.lower() != b"chunked":
                raise _coding_refusal(value)  # only a single "chunked" is unambiguous
            self.has_te = True
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.raw_head = 0
        parser = self.parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise Reject(505)
        if parser.should_upgrade():
            raise Reject(400, "protocol upgrades are not supported")
        if self.has_te and version == "1.0":  # a smuggling vector
            raise Reject(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
        if self.hosts > 1 or (self.hosts == 0 and version == "1.1"):
            raise Reject(400, "an HTTP/1.1 request needs exactly one Host header")  # RFC 9112
        if self.ctx.shutting_down:
            raise Reject(503)
        method = parser.get_method()
        path, raw_path, query = split_target(self.url)
        self.requests += 1
        keep_alive = parser.should_keep_alive()
        most = self.limits.max_requests_per_connection
        if most and self.requests >= most:
            keep_alive = False  # this response says connection: close
        scope = {
            "type": "http",
            "asgi": self.ctx.asgi,
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": "https" if self.ctx.tls else "http",
            "method": METHODS.get(method) or method.decode("ascii"),
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": self.headers,
            "state": self.ctx.state.copy(),
        }
        self.cycle = cycle = RequestCycle(
            self, scope, keep_alive, self.expect_100 and version == "1.1"
        )
        extensions: dict[str, object] = {ON_DISCONNECT: cycle.on_disconnect}
        if self.tls is not None:
            extensions[tls.CLIENT_CERT] = self.tls
        scope["extensions"] = extensions
        if self.active is None:
            self.start(cycle)
        else:
            self.pipeline.append(cycle)
            self.update_reading()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle is None or cycle.finished:
            self.discard(len(body))  # the app answered without reading this body
            return
        cycle.body = cycle.body + body if cycle.body else body
        self.buffered += len(body)
        if self.buffered > BODY_HIGH_WATER:
            self.update_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if cycle is not None:
            cycle.body_complete = True
            self.cycle = None
            cycle.wake()
            if cycle.finished and self.active is None:  # the discarded body is over: now idle
                self.arm(self.limits.keepalive_timeout, head=False)

    def discard(self, size: int) -> None:
        """Drop body bytes nobody will read, up to max_discard_bytes, then give up the conn."""
        self.discard_left -= size
        if self.discard_left < 0:
            self.linger()
        elif self.active is None:
            self.arm(self.limits.body_timeout, head=False)  # a stalled discard is not idle

    # --- request lifecycle -------------------------------------------------------------------

    def start(self, cycle: RequestCycle) -> None:
        self.active = cycle
        self.deadline = 0.0  # no timeout while the app works; the timer finds nothing to do
        self.head_timer = False
        overload = self.ctx.overload
        if overload.lagging or overload.in_flight >= overload.max_in_flight:
            cycle.started = True
            self.loop.call_soon(self.shed, cycle)
            return
        overload.in_flight += 1
        cycle.admitted = True
        self.task = self.loop.create_task(cycle.run(self.ctx.app))

    def shed(self, cycle: RequestCycle) -> None:
        """Answer 503 + retry-after in the app's place: no task, no policy, no upstream.

        Run from the loop (not from the parser callback that started the request), and the
        request marked finished in the same step as ``cycle_done``, as an app task would.
        """
        # scope -> extensions -> cycle.on_disconnect -> cycle -> scope: break it, as run() does.
        cycle.scope.pop("extensions", None)
        if not self.closed:
            message = self.ctx.overload.request_refusal()
            retry = self.limits.retry_after
            self.write(self.refusal(503, message, retry, close=not cycle.keep_alive))
            cycle.head = False
            cycle.complete = True
        cycle.finished = True
        self.cycle_done(cycle)

    def response_complete(self, cycle: RequestCycle) -> None:
        cycle.wake()  # a disconnect watcher in receive() learns that the response is done
        if not cycle.keep_alive:
            self.close()

    def cycle_done(self, cycle: RequestCycle) -> None:
        self.active = None
        self.task = None
        if cycle.admitted:
            self.ctx.overload.in_flight -= 1
        unread = len(cycle.body)
        if unread:
            self.buffered -= unread
            cycle.body = b""
        if self.closed:
            self.ctx.connections.discard(self)
            return
        discarding = self.cycle is cycle  # the app ended before the body did
        if discarding:
            self.discard_left = self.limits.max_discard_bytes - unread
        if (
            not cycle.complete
            or not cycle.keep_alive
            or self.ctx.shutting_down
            # Still owed a 100 Continue, the client may or may not send the body: ambiguous.
            or (discarding and (cycle.expect_100 or self.discard_left < 0))
        ):
            if discarding:
                self.linger()
            else:
                self.close()
        elif self.failed:
            self.write(self.refusal(self.failed))
            self.close()
        elif self.pipeline:
            self.start(self.pipeline.popleft())
            self.update_reading()
        else:
            self.update_reading()
            if self.in_head:
                self.arm(self.limits.header_timeout, head=True)
            elif discarding:
                self.arm(self.limits.body_timeout, head=False)
            else:
                self.arm(self.limits.keepalive_timeout, head=False)

    def reject(self, status: int, why: str | None = None) -> None:
        """Refuse a request the parser flagged; its stream cannot be parsed any further."""
        self.failed = status
        self.pipeline.clear()
        active = self.active
        if active is None:
            self.write(self.refusal(status, why))
            self.linger()  # the rest of what the client sends cannot be parsed: drop it
        elif not active.body_complete:
            # The framing of the body the app is reading is broken: nothing more can be sent.
            if active.head:
                self.write(self.refusal(status, why))
            self.linger()
        else:
            self.update_reading()  # answered after the active response, in cycle_done()

    def shutdown(self) -> None:
        """Graceful shutdown: idle connections close now, busy ones after their response."""
        if self.linger_end:
            self.abort()  # only dropping input: not worth holding the shutdown for
        elif self.active is None:
            self.close()
        else:
            self.pipeline.clear()


def _coding_refusal(value: bytes) -> Reject:
    """400 for a coding list that is not exactly "chunked", 501 if it names an unknown one."""
    codings = [c.strip() for c in value.lower().split(b",")]
    if all(c in KNOWN_CODINGS for c in codings):
        return Reject(400, "Transfer-Encoding must be exactly one 'chunked', or absent")
    return Reject(501, "unsupported Transfer-Encoding: only chunked is accepted")


def _no_delay(sock: Any) -> None:
    """Send small writes (SSE events, the last chunk) at once, whatever the socket's origin.

    uvloop sets TCP_NODELAY itself; asyncio only on sockets whose ``proto`` says TCP, which a
    listening socket made with ``socket.socket()`` or handed over by a supervisor does not.
    Without it, a streamed response stalls ~40 ms on Nagle's algorithm and a delayed ACK.
    """
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None
