"""Identity changes announced across workers and replicas over Redis pub/sub.

When ``state`` is Redis, the process that changed an identity (a key created, rotated or
revoked through the admin API) publishes the new identity version on a channel of its store;
every other process refreshes its key index as soon as the message arrives, typically within
milliseconds, instead of at its next poll of the store. Polling stays as the fallback (and
the only path for changes the CLI writes to the store directly), so a lost message or a Redis
outage delays a change by at most the poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from lockgate.errors import describe

log = logging.getLogger("lockgate.identity")

RETRY = 1.0  # seconds between reconnection attempts while Redis is unreachable
STOP_POLL = 0.1  # seconds between cancellations when stopping


def channel_for(store_id: str) -> str:
    return f"lockgate:identity:{store_id}"


class IdentityNotifier:
    def __init__(
        self,
        client: Any,  # redis.asyncio.Redis: the state backend's connection pool
        channel: str,
        on_version: Callable[[int], Awaitable[None]],
    ) -> None:
        self._client = client
        self._channel = channel
        self._on_version = on_version
        self._sender = os.urandom(6).hex()
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.received = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="lockgate-identity-notify")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # redis-py's pub/sub read can swallow a cancellation and go on listening (the
        # gateway's shutdown then hung for ever): cancel again until the task has ended.
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=STOP_POLL)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def publish(self, version: int) -> None:
        """Announce ``version``; a failure is logged, never raised (polling catches up)."""
        try:
            await self._client.publish(self._channel, f"{self._sender}:{version}")
        except Exception as exc:
            log.warning("identity change not announced; replicas poll", extra=describe(exc))

    async def _listen(self) -> None:
        failing = False
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self.subscribed.set()
                    if failing:
                        log.info("identity notifications recovered")
                    failing = False
                    async for message in pubsub.listen():
                        await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                if not failing:
                    log.warning("identity notifications lost; polling", extra=describe(exc))
                failing = True
                await asyncio.sleep(RETRY)

    async def _handle(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        text = data.decode() if isinstance(data, bytes) else str(data)
        sender, _, version = text.partition(":")
        if sender == self._sender or not version.isdigit():
            return
        self.received += 1
        try:
            await self._on_version(int(version))
        except Exception as exc:
            log.warning("identity refresh after a notification failed", extra=describe(exc))
