"""Per-server state shared by every connection: limits, the cached Date header, the app."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Final

from lockgate.serving.overload import Overload

if TYPE_CHECKING:
    from lockgate.serving.protocol import HttpProtocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Unread request body bytes buffered per connection before we stop reading from the socket.
BODY_HIGH_WATER: Final = 64 * 1024

# ASGI server extension (``scope["extensions"]``): a callable taking a zero-argument callback,
# or None to withdraw it. The server calls the callback once if the connection closes (client
# gone, or closed by a server timeout) before the response is complete. It saves an app the
# task that would otherwise sit in ``receive()`` waiting for ``http.disconnect``.
ON_DISCONNECT: Final = "lockgate.on_disconnect"


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one client may cost the server; every field bounds a hostile or broken client.

    - ``max_header_bytes`` / ``max_headers``: size of one request head (431 beyond).
    - ``header_timeout``: a request head must be complete this long after it begins.
    - ``keepalive_timeout``: an idle connection between requests is closed after this.
    - ``max_pipelined``: requests queued behind the running one before reading pauses.
    - ``body_timeout``: longest gap between request body bytes while the app waits for them;
      the whole body must arrive within four times this from the app's first wait. On expiry
      the client gets 408 if no response has begun, else the connection just closes.
    - ``send_timeout``: how long a response write may wait for a client that does not read.
    - ``max_discard_bytes``: unread request body the server reads and drops after the app
      answered, to keep the connection; beyond it the connection closes.
    - ``linger_time`` / ``linger_timeout``: closing a connection whose client may still be
      sending (an unread body past ``max_discard_bytes``, a malformed request), the server
      sends FIN and keeps reading and dropping input for up to ``linger_time`` in all, or
      until the client is silent for ``linger_timeout``, so that the client reads the answer
      instead of a connection reset.
    - ``max_requests_per_connection``: after this many requests the response says
      ``connection: close`` (0: no limit).
    - ``max_connections`` / ``max_connections_per_ip``: connections served at once, in all and
      from one client address (0: no limit). One more is answered 503 at once and closed.
    - ``max_in_flight``: requests being handled at once (0: no limit); past it, and while the
      event loop lags more than ``max_loop_lag`` seconds (0: not watched), new requests are
      answered 503 with ``retry-after: retry_after`` without reaching the app. Lag is
      sampled every 0.1 s and counts when two samples in a row are late.
    """

    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    max_pipelined: int = 32
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    max_discard_bytes: int = 1024 * 1024
    linger_time: float = 30.0
    linger_timeout: float = 5.0
    max_requests_per_connection: int = 10_000
    max_connections: int = 4096
    max_connections_per_ip: int = 256
    max_in_flight: int = 2048
    max_loop_lag: float = 0.5
    retry_after: int = 1


class ServerContext:
    """What connections share; one per ``LeanServer.serve`` run."""

    __slots__ = (
        "app",
        "asgi",
        "clock",
        "connections",
        "date_server",
        "ids",
        "limits",
        "loop",
        "names",
        "overload",
        "shutting_down",
        "state",
        "tls",
    )

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop, limits: ServerLimits) -> None:
        self.app = app
        self.loop = loop
        self.limits = limits
        self.asgi = {"version": "3.0", "spec_version": "2.3"}
        self.state: dict[str, Any] = {}
        self.connections: set[HttpProtocol] = set()
        self.names: dict[bytes, bytes] = {}
        self.shutting_down = False
        self.date_server = b""
        self.clock: asyncio.TimerHandle | None = None
        self.tls = False  # set when the listener terminates TLS (serving/tls.py)
        self.ids = RequestIds()
        self.overload = Overload(loop, limits, self.ids)

    def start_clock(self) -> None:
        """Refresh the ``date``/``server`` header bytes once a second, not per request."""
        self.date_server = b"date: %s\r\nserver: lockgate\r\n" % formatdate(usegmt=True).encode()
        self.clock = self.loop.call_later(1.0, self.start_clock)

    def stop_clock(self) -> None:
        if self.clock is not None:
            self.clock.cancel()
            self.clock = None
        self.overload.stop()


class RequestIds:
    """``x-request-id`` values for the answers the server gives itself (refusals, shedding).

    The same shape as the data plane's ids: a random per-process prefix and a counter.
    """

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = "req_" + os.urandom(5).hex() + "s"
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"
