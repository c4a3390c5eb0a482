"""jailguard's prompt-injection classifier (384 → 256 → 128 → 1 MLP) over MiniLM embeddings.

Texts longer than the classifier's 128-token window are scored window by window (with an
overlap, so a phrase cut by one boundary is whole in the next); the text's score is the
highest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lockgate.ml.assets import Assets
from lockgate.ml.embedder import WINDOW, Embedder, Vectors

STRIDE = 96  # window starts, in word pieces; WINDOW - 2 - STRIDE pieces overlap
MAX_WINDOWS = 64  # ~6k word pieces scored per text; beyond, the last windows are kept


class InjectionClassifier:
    def __init__(self, assets: Assets, embedder: Embedder) -> None:
        w = assets.weights
        self._w1 = np.asarray(w["w_h1"], dtype=np.float32)
        self._b1 = np.asarray(w["b_h1"], dtype=np.float32)
        self._w2 = np.asarray(w["w_h2"], dtype=np.float32)
        self._b2 = np.asarray(w["b_h2"], dtype=np.float32)
        self._wo = np.asarray(w["w_out"], dtype=np.float32)
        self._bo = np.asarray(w["b_out"], dtype=np.float32)
        self._embedder = embedder

    def probabilities(self, vectors: Vectors) -> list[float]:
        h = np.maximum(vectors @ self._w1.T + self._b1, 0)
        h = np.maximum(h @ self._w2.T + self._b2, 0)
        z = (h @ self._wo.T + self._bo)[:, 0]
        return [float(p) for p in 1.0 / (1.0 + np.exp(-z))]

    def windows(self, text: str) -> list[list[int]]:
        ids = self._embedder.token_ids(text)
        size = WINDOW - 2
        if len(ids) <= size:
            return [ids]
        starts = list(range(0, len(ids) - size + STRIDE, STRIDE))[-MAX_WINDOWS:]
        return [ids[s : s + size] for s in starts]

    def score(self, texts: Sequence[str]) -> list[float]:
        """The injection probability of each text (0 for an empty one)."""
        spans: list[tuple[int, int]] = []
        batch: list[list[int]] = []
        for text in texts:
            wins = [w for w in self.windows(text) if w]
            spans.append((len(batch), len(batch) + len(wins)))
            batch.extend(wins)
        if not batch:
            return [0.0 for _ in texts]
        probs: list[float] = []
        for i in range(0, len(batch), 16):
            probs.extend(self.probabilities(self._embedder.embed_ids(batch[i : i + 16])))
        return [max(probs[a:b], default=0.0) for a, b in spans]
