"""Keep-alive connections to one origin (scheme, host, port), bounded and reused LIFO."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass

from lockgate.errors import UpstreamConnectError, UpstreamTimeout
from lockgate.upstream.connection import Connection
from lockgate.upstream.request import Timeouts


@dataclass(slots=True, frozen=True)
class PoolStats:
    origin: str
    connections: int  # open or opening: in use + idle
    idle: int
    waiting: int  # requests queued for a free slot


@dataclass(slots=True, frozen=True)
class PoolLimits:
    max_connections: int
    max_idle: int
    idle_ttl: float
    max_header_bytes: int


class Pool:
    """A slot is one connection, open or opening; ``_total`` counts slots taken.

    A released connection goes straight to the oldest waiter if there is one, so a queued
    request never loses its turn to a new arrival; a retired one hands its slot over instead.
    """

    def __init__(
        self,
        origin: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        limits: PoolLimits,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.origin = origin
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._limits = limits
        self._loop = loop
        self._idle: list[Connection] = []  # oldest first; reuse from the end (LIFO)
        self._conns: set[Connection] = set()
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._total = 0
        self._closed = False

    def stats(self) -> PoolStats:
        return PoolStats(self.origin, self._total, len(self._idle), len(self._waiters))

    async def acquire(self, timeouts: Timeouts, deadline: float, fresh: bool) -> Connection:
        """An idle connection (unless ``fresh``), a new one, or the next one freed."""
        if self._closed:
            raise UpstreamConnectError("upstream client was closed")
        idle = self._idle
        if idle:
            self._expire()
            if fresh and idle and self._total >= self._limits.max_connections:
                idle.pop(0).close()  # make room for the fresh connection
            while idle and not fresh:
                conn = idle.pop()
                if conn.usable():
                    return conn
                conn.abort()
        if self._total < self._limits.max_connections:
            self._total += 1
            return await self._connect(timeouts, deadline)
        handed = await self._wait_turn(timeouts, deadline)
        if handed is None:  # a slot was handed over, already counted for us
            return await self._connect(timeouts, deadline)
        return handed

    def release(self, conn: Connection, reusable: bool) -> None:
        if not reusable or not conn.usable():
            conn.close()
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if len(self._idle) >= self._limits.max_idle:
            conn.close()
            return
        conn.idle_since = self._loop.time()
        self._idle.append(conn)
        self._expire()

    def retire(self, conn: Connection) -> None:
        """Give back the slot of a connection that is closing; idempotent."""
        if conn.retired:
            return
        conn.retired = True
        self._conns.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        self._retire_slot()

    def close(self) -> None:
        # Waiters first, so the slots that closing connections free are not handed to them.
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(UpstreamConnectError("upstream client was closed"))
        self._waiters.clear()
        for conn in list(self._conns):
            conn.fail(UpstreamConnectError("upstream client was closed"))

    def _expire(self) -> None:
        idle = self._idle
        limit = self._loop.time() - self._limits.idle_ttl
        while idle and idle[0].idle_since <= limit:
            idle.pop(0).close()

    async def _wait_turn(self, timeouts: Timeouts, deadline: float) -> Connection | None:
        waiter: asyncio.Future[Connection | None] = self._loop.create_future()
        self._waiters.append(waiter)
        budget = min(timeouts.connect, deadline - self._loop.time())
        try:
            async with asyncio.timeout(budget):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection or slot just as we gave up: pass it on, don't leak it.
                got = waiter.result()
                if got is None:
                    self._retire_slot()
                else:
                    self.release(got, True)
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(
                    f"no connection to {self.origin} became free within the connect timeout "
                    f"(pool, {timeouts.connect}s)"
                ) from None
            raise
        finally:
            if not waiter.done() or waiter.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _retire_slot(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter, still counted
                return
        self._total -= 1

    async def _connect(self, timeouts: Timeouts, deadline: float) -> Connection:
        loop = self._loop
        conn = Connection(self, loop, self._limits.max_header_bytes)
        remaining = deadline - loop.time()
        if timeouts.connect <= remaining:
            budget, which, value = timeouts.connect, "connect", timeouts.connect
        else:
            budget, which, value = remaining, "total", timeouts.total
        try:
            async with asyncio.timeout(budget):
                transport, _ = await loop.create_connection(
                    lambda: conn,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl is not None else None,
                )
        except TimeoutError:
            conn.abort()
            raise UpstreamTimeout(
                f"could not connect to {self.origin} within the {which} timeout ({value}s)"
            ) from None
        except OSError as exc:
            conn.abort()
            raise UpstreamConnectError(
                f"could not connect to {self.origin}: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:
            conn.abort()
            raise
        # uvloop may return before calling connection_made.
        conn.connection_made(transport)
        self._conns.add(conn)
        return conn
