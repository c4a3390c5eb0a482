"""Redis state: one connection pool per gateway, shared by every policy that keeps counters."""

from __future__ import annotations

from redis.asyncio import Redis


class RedisState:
    kind = "redis"

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.client: Redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        await self.client.aclose()
