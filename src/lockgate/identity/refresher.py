"""``IdentityRefresher``: keeps the gateway's ``KeyIndex`` in step with the store.

It polls the store's ``identity_version`` counter (cheap: one row) and reloads the whole
snapshot only when the counter moved. That is how a key revoked on any replica, or by the CLI
writing to the store directly, stops working everywhere within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from lockgate.errors import describe
from lockgate.store.keyhash import KeyHasher
from lockgate.store.records import IdentitySnapshot

from .index import Clock, KeyIndex

log = logging.getLogger("lockgate.identity")


class IdentitySource(Protocol):
    def identity_version(self) -> int: ...
    def load_identity(self) -> IdentitySnapshot: ...
    def key_hasher(self) -> KeyHasher: ...
    def rehash_keys(self, upgrades: Mapping[tuple[str, str], str]) -> int: ...


class IdentityRefresher:
    def __init__(
        self,
        store: IdentitySource,
        on_index: Callable[[KeyIndex], None],
        *,
        interval: float = 0.5,
        clock: Clock = time.time,
        bootstrap_admin_keys: Iterable[str] = (),
        on_snapshot: Callable[[IdentitySnapshot], None] | None = None,
    ) -> None:
        """``on_snapshot`` sees each loaded snapshot before its index is published (the
        API products and subscriptions it carries, for ``apis/``)."""
        self._store = store
        self._on_index = on_index
        self._on_snapshot = on_snapshot
        self._interval = interval
        self._clock = clock
        self._bootstrap = tuple(bootstrap_admin_keys)
        self._version: int | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._index: KeyIndex | None = None

    @property
    def version(self) -> int | None:
        """The identity version of the last index handed to ``on_index``."""
        return self._version

    async def refresh_now(self) -> KeyIndex:
        """Load the snapshot and publish a new index, whatever the version says."""
        async with self._lock:  # the poller and an admin mutation may ask at the same time
            snapshot = await asyncio.to_thread(self._store.load_identity)
            hasher = await asyncio.to_thread(self._store.key_hasher)
            index = KeyIndex.from_snapshot(
                snapshot, self._clock, bootstrap_admin_keys=self._bootstrap, hasher=hasher
            )
            self._version = snapshot.version
            if self._on_snapshot is not None:
                self._on_snapshot(snapshot)
            self._on_index(index)
            self._index = index
            return index

    async def refresh_if_behind(self, version: int) -> None:
        """Refresh unless the index already reflects ``version`` (a notification's)."""
        if self._version is None or version > self._version:
            await self.refresh_now()

    async def start(self) -> None:
        """Load once (errors propagate: a gateway without its keys must not start), then poll."""
        if self._task is not None:
            return
        await self.refresh_now()
        self._task = asyncio.create_task(self._poll(), name="lockgate-identity-refresher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _rehash_used_legacy_keys(self) -> None:
        """Store the keyed hash of every old SHA-256 key used since the last poll."""
        index = self._index
        if index is None or not index.upgrades:
            return
        upgrades, index.upgrades = index.upgrades, {}
        changed = await asyncio.to_thread(self._store.rehash_keys, upgrades)
        if changed:
            log.info("%d keys hashed with the server secret on first use", changed)

    async def _poll(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._rehash_used_legacy_keys()
                version = await asyncio.to_thread(self._store.identity_version)
                if version != self._version:
                    await self.refresh_now()
                if failing:
                    log.info("identity refresh recovered")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Keep serving with the last good index; log once per outage, not per poll.
                if not failing:
                    log.warning("identity refresh failed; retrying", extra=describe(exc))
                failing = True
