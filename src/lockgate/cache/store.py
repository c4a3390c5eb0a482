"""Where answers are kept: in the process (an LRU bounded by bytes), or in Redis.

Both expire entries after their TTL by the injected wall clock (memory) or by Redis itself.
A Redis that cannot be reached turns lookups into misses and stores into no-ops (logged,
at most once a minute): the cache never fails a request.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("lockgate.cache")

MAX_MEMORY_BYTES = 64 << 20
MAX_ENTRY_BYTES = 1 << 20  # bigger answers are not cached


class ResponseStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryStore:
    """An LRU of answers bounded by their total size; expired entries are dropped on read."""

    def __init__(self, clock: Callable[[], float], max_bytes: int = MAX_MEMORY_BYTES) -> None:
        self._clock = clock
        self._max = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        size = len(key) + len(value)
        if size > min(MAX_ENTRY_BYTES, self._max):
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (self._clock() + ttl, value)
        self.bytes += size
        while self.bytes > self._max:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self.bytes -= len(key) + len(value)


class RedisStore:
    """Answers as Redis strings with a TTL (``SET PX``), on the gateway's connection."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._logged = 0.0

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(key)
        except (RedisError, OSError) as err:
            self._outage(err)
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > MAX_ENTRY_BYTES:
            return
        try:
            await self._client.set(key, value, px=max(1, int(ttl * 1000)))
        except (RedisError, OSError) as err:
            self._outage(err)

    def _outage(self, err: BaseException) -> None:
        now = time.monotonic()
        if now - self._logged > 60:
            self._logged = now
            log.warning(
                "response cache: Redis unreachable (%s); answering as misses", type(err).__name__
            )
