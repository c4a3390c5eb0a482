"""A vector index of one scope and model: HNSW (faiss) over normalised embeddings, so the
inner product is the cosine similarity; each vector carries its entry's context digest,
answer key and expiry.

faiss cannot delete from HNSW, so expired entries are skipped at search time and the index
is rebuilt from its live entries when it is full (the oldest half goes when all are live).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lockgate.cache.lexical import content_words, swapped
from lockgate.ml.embedder import DIM, Vectors

HNSW_M = 32
EF_SEARCH = 64  # the faiss default (16) loses recall at 100k entries
EF_CONSTRUCTION = 80
CAPACITY = 100_000


@dataclass(frozen=True, slots=True)
class Entry:
    context: str
    key: str
    expires: float
    text: str  # the embedded question, for the lexical veto


def _hnsw() -> Any:
    import faiss

    faiss.omp_set_num_threads(1)  # one query at a time: threads only add contention
    index = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = EF_SEARCH
    index.hnsw.efConstruction = EF_CONSTRUCTION
    return index


class VectorIndex:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._index = _hnsw()
        self._vectors: list[Vectors] = []
        self._entries: list[Entry] = []

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, vector: Vectors, entry: Entry, now: float) -> None:
        if len(self._entries) >= self._capacity:
            self._rebuild(now)
        row = vector.reshape(1, DIM).astype(np.float32)
        self._index.add(row)
        self._vectors.append(row[0])
        self._entries.append(entry)

    def extend(self, vectors: Vectors, entries: list[Entry], now: float) -> None:
        """Add many at once (HNSW builds faster in batches)."""
        if len(self._entries) + len(entries) > self._capacity:
            self._rebuild(now)
        rows = vectors.reshape(-1, DIM).astype(np.float32)
        self._index.add(rows)
        self._vectors.extend(rows)
        self._entries.extend(entries)

    def search(
        self,
        vector: Vectors,
        context: str,
        threshold: float,
        now: float,
        k: int = 8,
        words: frozenset[str] | None = None,
    ) -> tuple[float, Entry] | None:
        """The most similar live entry of the same context at or above ``threshold`` (and,
        given ``words``, not a question with a word swapped: ``lexical.swapped``)."""
        if not self._entries:
            return None
        sims, ids = self._index.search(vector.reshape(1, DIM).astype(np.float32), k)
        for sim, i in zip(sims[0], ids[0], strict=True):
            if i < 0 or sim < threshold:
                break
            e = self._entries[i]
            if e.context != context or e.expires <= now:
                continue
            if words is not None and swapped(words, content_words(e.text)):
                continue
            return float(sim), e
        return None

    def _rebuild(self, now: float) -> None:
        live = [i for i, e in enumerate(self._entries) if e.expires > now]
        if len(live) >= self._capacity // 2:
            live = live[len(live) - self._capacity // 2 :]
        vectors = [self._vectors[i] for i in live]
        entries = [self._entries[i] for i in live]
        self._index = _hnsw()
        if vectors:
            self._index.add(np.stack(vectors))
        self._vectors, self._entries = vectors, entries
