from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[tuple[Redis, str]]:
    """A client and a key prefix of this test's own; its keys are deleted afterwards."""
    client = Redis.from_url(redis_url)
    prefix = f"lgtest:{secrets.token_hex(4)}:"
    try:
        yield client, prefix
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
