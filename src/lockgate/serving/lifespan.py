"""The ASGI lifespan protocol: start-up before listening, shutdown after the last request."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lockgate.serving.context import ASGIApp, Message

log = logging.getLogger("lockgate.serving")


class Lifespan:
    def __init__(self, app: ASGIApp, state: dict[str, Any], asgi: dict[str, str]) -> None:
        self.app = app
        self.scope = {"type": "lifespan", "asgi": asgi, "state": state}
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.answered = asyncio.Event()
        self.failure: str | None = None
        self.received = 0  # messages the app took: 0 when it raised without looking
        self.supported = True
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Run start-up; RuntimeError if the app reports failure (or crashes during it)."""
        self.task = asyncio.get_running_loop().create_task(self.main())
        await self.inbox.put({"type": "lifespan.startup"})
        await self.wait()
        if self.failure is not None:
            raise RuntimeError(f"application start-up failed: {self.failure}")

    async def shutdown(self) -> None:
        if not self.supported or self.task is None or self.task.done():
            return
        self.answered.clear()
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.wait()
        if self.failure is not None:
            log.error("application shutdown failed: %s", self.failure)

    async def wait(self) -> None:
        assert self.task is not None
        answered = asyncio.ensure_future(self.answered.wait())
        try:
            await asyncio.wait({answered, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            answered.cancel()

    async def main(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception as exc:
            if self.received == 0:
                # Raising before reading the first message is how apps say "no lifespan".
                self.supported = False
            elif not self.answered.is_set():
                log.exception("Exception in ASGI lifespan")
                self.failure = f"{type(exc).__name__}: {exc}"
            else:
                log.exception("Exception in ASGI lifespan")
        else:
            if self.received == 0:
                self.supported = False
        finally:
            self.answered.set()

    async def receive(self) -> Message:
        self.received += 1
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind.endswith(".failed"):
            self.failure = str(message.get("message", ""))
        elif not kind.endswith(".complete"):
            raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")
        self.answered.set()
