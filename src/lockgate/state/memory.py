"""In-process state: nothing to connect to, always reachable."""

from __future__ import annotations


class MemoryState:
    kind = "memory"

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
