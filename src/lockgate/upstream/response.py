"""The response to one upstream exchange: status and headers at once, the body as it arrives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING

from lockgate.errors import UpstreamProtocolError
from lockgate.upstream.connection import HIGH_WATER

if TYPE_CHECKING:
    from lockgate.upstream.connection import Connection


class UpstreamResponse:
    """Status and headers of an upstream response; read the body once with read() or iter_body().

    Until the body has been fully received the response holds its connection: aclose() (or
    leaving ``async with``) before then closes that connection rather than reusing it.
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_conn",
        "_done",
        "_error",
        "_high_water",
        "_loop",
        "_stale",
        "_waiter",
        "headers",
        "max_event_bytes",
        "max_stream_bytes",
        "status",
    )

    def __init__(
        self,
        conn: Connection,
        loop: asyncio.AbstractEventLoop,
        max_stream_bytes: int = 0,
        max_event_bytes: int = 0,
    ) -> None:
        # Bounds for a body read as a stream (iter_body) and for one event parsed from it;
        # 0: none. The client sets them from server.upstream.
        self.max_stream_bytes = max_stream_bytes
        self.max_event_bytes = max_event_bytes
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self._conn: Connection | None = conn
        self._loop = loop
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._high_water: float = HIGH_WATER
        self._done = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._stale = False

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def read(self, limit: int | None = None) -> bytes:
        """The whole (de-chunked) body; UpstreamProtocolError if it passes ``limit`` bytes."""
        # read() keeps every byte anyway, so pausing the socket would only stall it; the limit
        # is what bounds memory here.
        self._high_water = float("inf")
        if self._conn is not None:
            self._conn.resume()
        while True:
            if self._error is not None:
                raise self._error
            if limit is not None and self._buffered > limit:
                self._fail(UpstreamProtocolError(f"upstream response body exceeds {limit} bytes"))
                continue
            if self._done:
                break
            await self._wait()
        chunks = self._chunks
        self._chunks = []
        self._buffered = 0
        return b"".join(chunks)

    def iter_body(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive (several small ones may come joined).

        Past ``max_stream_bytes`` in all the response is closed and UpstreamProtocolError
        raised: a provider that streams without end cannot hold a connection and a request.
        """
        return _BodyIterator(self)

    async def aclose(self) -> None:
        self._close_now()

    def _close_now(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn.abort()
            if self._error is None and not self._done:
                self._error = UpstreamProtocolError("upstream response was closed before its end")
        self._chunks = []
        self._buffered = 0

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- used by the connection and the client --------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            await waiter
        except BaseException:
            # Cancelled (client gone, deadline of a caller): the exchange can't be resumed.
            self._waiter = None
            self._close_now()
            raise
        self._waiter = None

    def _fail(self, err: Exception) -> None:
        conn = self._conn
        self._conn = None
        if conn is not None:
            conn.abort()
        self._error = err
        self._chunks = []
        self._buffered = 0


class _BodyIterator:
    __slots__ = ("_left", "_resp")

    def __init__(self, resp: UpstreamResponse) -> None:
        self._resp = resp
        self._left = resp.max_stream_bytes or float("inf")

    def __aiter__(self) -> _BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        resp = self._resp
        while True:
            chunks = resp._chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                resp._buffered = 0
                self._left -= len(data)
                if self._left < 0:
                    err = UpstreamProtocolError(
                        f"upstream stream exceeds {resp.max_stream_bytes} bytes "
                        "(server.upstream.max_stream_bytes)"
                    )
                    resp._fail(err)
                    raise err
                conn = resp._conn
                if conn is not None and conn.paused:
                    conn.resume()
                return data
            if resp._error is not None:
                raise resp._error
            if resp._done:
                raise StopAsyncIteration
            await resp._wait()
