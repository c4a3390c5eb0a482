"""Sessions ended by "Sign out", so a copy of the cookie stops working too.

A signed cookie is valid until it expires; signing out records its nonce here until that
expiry. With ``state: redis://...`` the record is a Redis key (every worker and replica sees
it at once); with in-memory state it is kept by the process, which is exact for one worker
(with ``--workers N`` and in-memory state, another worker would still accept a copied cookie
until it expires; the browser itself drops the cookie either way).
"""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis


class SignOuts(Protocol):
    async def add(self, nonce: str, until: float, now: float) -> None: ...

    async def ended(self, nonce: str) -> bool: ...


class MemorySignOuts:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def add(self, nonce: str, until: float, now: float) -> None:
        self._until = {n: t for n, t in self._until.items() if t > now}  # forget expired ones
        self._until[nonce] = until

    async def ended(self, nonce: str) -> bool:
        return nonce in self._until


class RedisSignOuts:
    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix + "ui:signout:"

    async def add(self, nonce: str, until: float, now: float) -> None:
        ttl = max(1, int(until - now) + 1)
        await self.client.set(self.prefix + nonce, b"1", ex=ttl)

    async def ended(self, nonce: str) -> bool:
        return bool(await self.client.exists(self.prefix + nonce))
