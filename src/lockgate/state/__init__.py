"""State backends: where counters, locks and caches shared by workers and replicas live.

``memory`` keeps state in the process (one worker); ``redis://`` shares it across workers and
replicas. This package owns the connection and its health; the limit, budget and cache
policies build their counters on it.
"""

from __future__ import annotations

from typing import Protocol

from lockgate.state.memory import MemoryState
from lockgate.state.redis import RedisState


class StateBackend(Protocol):
    kind: str

    async def ping(self) -> None:
        """Raise if the backend cannot be reached."""
        ...

    async def aclose(self) -> None: ...


def open_state(url: str) -> StateBackend:
    if url == "memory":
        return MemoryState()
    return RedisState(url)


__all__ = ["MemoryState", "RedisState", "StateBackend", "open_state"]
