"""The semantic tier: one vector index per scope and model, and its sync across processes.

In memory, each process has its own indexes. With Redis, an entry's answer is a Redis
string like an exact entry, and its vector is appended to a Redis stream per scope and model
(capped); each process adds what other processes appended before it searches, so every
replica finds every replica's entries.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import cast

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from lockgate.cache.lexical import content_words
from lockgate.cache.vectors import Entry, VectorIndex
from lockgate.ml.embedder import Vectors

log = logging.getLogger("lockgate.cache")

MAX_INDEXES = 10_000  # scopes x models kept; the least recently used index is dropped
LOG_MAXLEN = 100_000
SYNC_BATCH = 1000


class SemanticIndexes:
    def __init__(self, client: Redis | None = None) -> None:
        self._client = client
        self._indexes: OrderedDict[str, VectorIndex] = OrderedDict()
        self._seen: dict[str, bytes] = {}  # stream id read last, per index

    def _index(self, name: str) -> VectorIndex:
        index = self._indexes.get(name)
        if index is None:
            index = self._indexes[name] = VectorIndex()
            if len(self._indexes) > MAX_INDEXES:
                old, _ = self._indexes.popitem(last=False)
                self._seen.pop(old, None)
        else:
            self._indexes.move_to_end(name)
        return index

    async def search(
        self, name: str, vector: Vectors, text: str, context: str, threshold: float, now: float
    ) -> tuple[float, Entry] | None:
        index = self._index(name)
        if self._client is not None:
            await self._sync(name, index, now)
        return index.search(vector, context, threshold, now, words=content_words(text))

    async def add(self, name: str, vector: Vectors, entry: Entry, now: float) -> None:
        if self._client is None:
            self._index(name).add(vector, entry, now)
            return
        fields = {
            "v": vector.astype(np.float32).tobytes(),
            "c": entry.context,
            "k": entry.key,
            "e": repr(entry.expires),
            "t": entry.text,
        }
        try:
            await self._client.xadd(name, fields, maxlen=LOG_MAXLEN, approximate=True)  # type: ignore[arg-type]
        except (RedisError, OSError) as err:
            log.warning("semantic cache: Redis unreachable (%s)", type(err).__name__)

    async def _sync(self, name: str, index: VectorIndex, now: float) -> None:
        assert self._client is not None
        last = self._seen.get(name, b"-")
        try:
            while True:
                start = last if last == b"-" else b"(" + last
                rows = cast(
                    list[tuple[bytes, dict[bytes, bytes]]],
                    await self._client.xrange(name, min=start, max="+", count=SYNC_BATCH),
                )
                vectors, entries = [], []
                for stream_id, f in rows:
                    entry = Entry(
                        f[b"c"].decode(), f[b"k"].decode(), float(f[b"e"]), f[b"t"].decode()
                    )
                    if entry.expires > now:
                        vectors.append(np.frombuffer(f[b"v"], dtype=np.float32))
                        entries.append(entry)
                    last = stream_id
                if entries:
                    index.extend(np.stack(vectors), entries, now)
                if len(rows) < SYNC_BATCH:
                    break
        except (RedisError, OSError) as err:
            log.warning("semantic cache: Redis unreachable (%s)", type(err).__name__)
        self._seen[name] = last
