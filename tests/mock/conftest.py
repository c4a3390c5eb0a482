"""Fixtures for the mock upstream tests: the ASGI app driven in-process through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from lockgate.mock import MockApp, MockBehaviour, create_mock_app


@pytest.fixture
def app() -> MockApp:
    return create_mock_app(MockBehaviour())


@pytest.fixture
async def client(app: MockApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:
        yield c
