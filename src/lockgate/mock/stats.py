"""Counters the mock exposes at ``GET /_mock/stats`` so tests can see what reached the upstream."""

from __future__ import annotations

from typing import Any

import orjson


class MockStats:
    """Mutable counters owned by one ``MockApp``.

    The last request is kept as raw references (path, ASGI header list, body bytes) and only
    decoded when someone asks, so recording costs three assignments on the hot path.
    """

    __slots__ = (
        "_last_body",
        "_last_headers",
        "_last_path",
        "hangs_open",
        "hangs_released",
        "open_streams",
        "requests",
        "streams_cancelled",
        "streams_completed",
        "streams_started",
        "usage_input_tokens",
        "usage_output_tokens",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.streams_started = 0
        self.streams_completed = 0
        self.streams_cancelled = 0
        self.open_streams = 0
        self.hangs_open = 0  # non-streaming responses held open by [[mock:hang]]
        self.hangs_released = 0  # ... whose client went away
        # Chat usage reported (for a stream: at its end), so tests can check totals to the token.
        self.usage_input_tokens = 0
        self.usage_output_tokens = 0
        self._last_path: str | None = None
        self._last_headers: list[tuple[bytes, bytes]] = []
        self._last_body = b""

    def record(self, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self._last_path = path
        self._last_headers = headers
        self._last_body = body

    def last_request(self) -> dict[str, Any] | None:
        if self._last_path is None:
            return None
        try:
            body: Any = orjson.loads(self._last_body) if self._last_body else None
        except orjson.JSONDecodeError:
            body = None
        return {
            "path": self._last_path,
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in self._last_headers},
            "json": body,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "streams_started": self.streams_started,
            "streams_completed": self.streams_completed,
            "streams_cancelled": self.streams_cancelled,
            "open_streams": self.open_streams,
            "hangs_open": self.hangs_open,
            "hangs_released": self.hangs_released,
            "usage_input_tokens": self.usage_input_tokens,
            "usage_output_tokens": self.usage_output_tokens,
            "last_request": self.last_request(),
        }
