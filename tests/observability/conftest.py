"""An in-process mock upstream on a real port, for tests that need a provider over HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from lockgate.mock import MockApp, MockBehaviour, create_mock_app
from lockgate.serving import LeanServer


@dataclass
class Upstream:
    base: str
    app: MockApp


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    app = create_mock_app(MockBehaviour())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))

    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await app(scope, receive, send)

    server = LeanServer(http_only, host="127.0.0.1", port=0, sock=sock, graceful_timeout=2.0)
    task = asyncio.create_task(server.serve())
    while not server.bound_port:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    try:
        yield Upstream(f"http://127.0.0.1:{server.bound_port}", app)
    finally:
        server.request_shutdown()
        await asyncio.wait_for(task, 10)
