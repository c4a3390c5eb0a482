"""A ``lockgate mock-upstream`` app served in the test's loop over a real socket, so tests can
assert on exactly what reached the upstream (``MockApp.stats``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from lockgate.mock import MockApp, MockBehaviour, create_mock_app


@dataclass
class Upstream:
    app: MockApp
    base: str

    @property
    def requests(self) -> int:
        return self.app.stats.requests

    def last_body(self) -> dict[str, Any]:
        last = self.app.stats.last_request()
        assert last is not None
        body: dict[str, Any] = last["json"]
        return body

    def providers(self) -> dict[str, Any]:
        return {
            "oai": {"type": "openai", "base_url": f"{self.base}/v1", "api_key": "k"},
            "claude": {"type": "anthropic", "base_url": self.base, "api_key": "k"},
        }


@contextlib.asynccontextmanager
async def serve_upstream() -> AsyncIterator[Upstream]:
    app = create_mock_app(MockBehaviour())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield Upstream(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
