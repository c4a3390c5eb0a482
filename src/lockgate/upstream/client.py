"""The upstream HTTP client: one pool per origin, one exchange per send()."""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from lockgate.errors import UpstreamConnectError
from lockgate.upstream.pool import Pool, PoolLimits, PoolStats
from lockgate.upstream.request import Timeouts, UpstreamRequest, encode_request, split_url
from lockgate.upstream.response import UpstreamResponse


class UpstreamClient:
    """Sends requests to upstreams over pooled keep-alive HTTP/1.1 connections.

    Errors are ``UpstreamConnectError`` (DNS, refused, TLS, closed before any response byte),
    ``UpstreamTimeout`` (connect, pool, first byte, idle or total) and
    ``UpstreamProtocolError`` (malformed or oversized response, body cut short); a request that
    cannot be framed safely (CR/LF in a header, non-latin-1 text) raises ``ValueError``.
    """

    def __init__(
        self,
        *,
        max_connections_per_origin: int = 256,
        max_idle_per_origin: int = 64,
        idle_ttl: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
        max_header_bytes: int = 64 * 1024,
        max_stream_bytes: int = 0,
        max_event_bytes: int = 0,
    ) -> None:
        """``max_stream_bytes`` bounds a body read with ``iter_body``, ``max_event_bytes`` one
        server-sent event parsed from it (both carried by each response; 0: no bound)."""
        if max_connections_per_origin < 1 or max_idle_per_origin < 0:
            raise ValueError("max_connections_per_origin must be >= 1, max_idle >= 0")
        self._limits = PoolLimits(
            max_connections_per_origin, max_idle_per_origin, idle_ttl, max_header_bytes
        )
        self._stream_limits = (max_stream_bytes, max_event_bytes)
        self._ssl = ssl_context
        self._pools: dict[str, Pool] = {}
        self._hosts: dict[str, str] = {}  # origin -> Host header value
        self._closed = False

    async def send(self, req: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        """Send ``req``; return once the response status and headers are in."""
        if self._closed:
            raise UpstreamConnectError("upstream client was closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeouts.total
        origin, target = split_url(req.url)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._new_pool(origin, loop)
        head, body = encode_request(req, target, self._hosts[origin])
        is_head = req.method == "HEAD"
        conn = await pool.acquire(timeouts, deadline, False)
        resp = UpstreamResponse(conn, loop, *self._stream_limits)
        conn.start(resp, head, body, is_head, timeouts, deadline)
        while resp.status == 0:
            err = resp._error
            if err is not None:
                if not resp._stale:
                    raise err
                # The upstream closed this idle connection as we reused it: the request was
                # not processed, so it is safe to send once more on a new connection.
                conn = await pool.acquire(timeouts, deadline, True)
                resp = UpstreamResponse(conn, loop, *self._stream_limits)
                conn.start(resp, head, body, is_head, timeouts, deadline)
                continue
            await resp._wait()
        return resp

    async def aclose(self) -> None:
        """Close every pooled connection; in-flight exchanges fail with UpstreamConnectError."""
        self._closed = True
        for pool in self._pools.values():
            pool.close()

    def pool_stats(self) -> list[PoolStats]:
        return [pool.stats() for pool in self._pools.values()]

    def _new_pool(self, origin: str, loop: asyncio.AbstractEventLoop) -> Pool:
        parts = urlsplit(origin)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise ValueError("upstream URL must be http:// or https:// with a host, no userinfo")
        https = scheme == "https"
        port = parts.port or (443 if https else 80)
        ctx: ssl.SSLContext | None = None
        if https:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ctx = self._ssl
        pool = Pool(origin, parts.hostname, port, ctx, self._limits, loop)
        self._pools[origin] = pool
        self._hosts[origin] = parts.netloc
        return pool
