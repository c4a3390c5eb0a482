"""Streaming time-to-first-token: a raw HTTP/1.1 client, direct vs through Lockgate."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from typing import Any

from .common import CONTENT_RE, chat_body, log
from .measure import percentile
from .results import Results
from .targets import Target


class RawConn:
    """A keep-alive HTTP/1.1 connection with just enough parsing for these two responses."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed mid-response")
        self.buf += data

    def _take_line(self) -> bytes:
        for _ in range(10_000):
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line, self.buf = self.buf[:idx], self.buf[idx + 2 :]
                return line
            self._fill()
        raise ConnectionError("line too long")

    def _take(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self.buf:
                self._fill()
            piece, self.buf = self.buf[:n], self.buf[n:]
            n -= len(piece)
            yield piece

    def request(self, path: str, body: str, headers: dict[str, str]) -> tuple[int, float, float]:
        """POST; return status, seconds to the first content token, seconds to the end."""
        sock = self._connect()
        payload = body.encode()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        head += "Content-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        t0 = time.perf_counter()
        sock.sendall(head.encode() + payload)
        status = int(self._take_line().split()[1])
        hdrs: dict[str, str] = {}
        for _ in range(200):
            line = self._take_line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            hdrs[name.strip().lower()] = value.strip().lower()
        first = math.nan
        seen = b""
        for piece in self._body(hdrs):
            if math.isnan(first):
                seen += piece
                if CONTENT_RE.search(seen):
                    first = time.perf_counter() - t0
        end = time.perf_counter() - t0
        if hdrs.get("connection") == "close":
            self.close()
        return status, first, end

    def _body(self, hdrs: dict[str, str]) -> Iterator[bytes]:
        if "chunked" in hdrs.get("transfer-encoding", ""):
            for _ in range(1_000_000):
                size = int(self._take_line().split(b";")[0], 16)
                if size == 0:
                    for _ in range(100):  # trailers, then the blank line
                        if not self._take_line():
                            return
                    return
                yield from self._take(size)
                self._take_line()
        else:
            yield from self._take(int(hdrs.get("content-length", "0")))


def ttft_round(direct: RawConn, gw: RawConn, gw_headers: dict[str, str], n: int) -> dict[str, Any]:
    """Alternate N streaming requests direct / through Lockgate; TTFT in ms for each side."""
    direct_body = chat_body("m", stream=True)
    gw_body = chat_body("bench-stream", stream=True)
    mock_auth = {"Authorization": "Bearer x"}
    res: dict[str, list[float]] = {"direct": [], "lockgate": []}
    failures = 0
    for i in range(n + 20):  # 20 warm-up pairs
        for side, conn, body, hdrs in (
            ("direct", direct, direct_body, mock_auth),
            ("lockgate", gw, gw_body, gw_headers),
        ):
            try:
                status, first, _ = conn.request("/v1/chat/completions", body, hdrs)
            except (OSError, ConnectionError, ValueError):
                conn.close()
                failures += 1
                continue
            if status != 200 or math.isnan(first):
                failures += 1
            elif i >= 20:
                res[side].append(first * 1000.0)
    return {"direct": res["direct"], "lockgate": res["lockgate"], "failures": failures}


def measure_ttft(res: Results, mock_port: int, lg: Target) -> None:
    direct, gw = RawConn(mock_port), RawConn(lg.port)
    try:
        for rnd in range(res.args.rounds):
            r = ttft_round(direct, gw, lg.headers, res.args.ttft_n)
            res.ttft.append(r)
            d, g = r["direct"], r["lockgate"]
            if d and g:
                log(
                    f"ttft       r{rnd + 1} direct p50 {percentile(d, 0.5):.3f} ms, lockgate p50"
                    f" {percentile(g, 0.5):.3f} ms, failures {r['failures']}"
                )
            else:
                log(f"ttft       r{rnd + 1} no data (failures {r['failures']})")
    finally:
        direct.close()
        gw.close()
