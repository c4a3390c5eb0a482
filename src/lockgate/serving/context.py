"""Per-server state shared by every connection: limits, the cached Date header, the app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from lockgate.serving.protocol import HttpProtocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Unread request body bytes buffered per connection before we stop reading from the socket.
BODY_HIGH_WATER: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    max_pipelined: int = 32


class ServerContext:
    """What connections share; one per ``LeanServer.serve`` run."""

    __slots__ = (
        "app",
        "asgi",
        "clock",
        "connections",
        "date_server",
        "limits",
        "loop",
        "names",
        "shutting_down",
        "state",
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

    def start_clock(self) -> None:
        """Refresh the ``date``/``server`` header bytes once a second, not per request."""
        self.date_server = b"date: %s\r\nserver: lockgate\r\n" % formatdate(usegmt=True).encode()
        self.clock = self.loop.call_later(1.0, self.start_clock)

    def stop_clock(self) -> None:
        if self.clock is not None:
            self.clock.cancel()
            self.clock = None
