"""jailguard's prompt-injection classifier (384 → 256 → 128 → 1 MLP) over MiniLM embeddings.

A text longer than one window is cut at sentence ends and each sentence is scored alone (a
sentence longer than ``PACK`` word pieces in ``PACK``-piece slices): the classifier was
trained on short prompts, and one benign sentence next to "ignore all previous instructions"
already lowers its score from 0.999 to 0.04. The text's score is its highest sentence's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from lockgate.ml.assets import Assets
from lockgate.ml.embedder import WINDOW, Embedder, Vectors

PACK = 64  # word pieces per window of a long sentence
MAX_WINDOWS = 96  # ~6k word pieces scored per text; beyond, the last windows are kept
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


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
        tokens = self._embedder.token_ids
        ids = tokens(text)
        if len(ids) <= WINDOW - 2:
            return [ids]
        out: list[list[int]] = []
        for sentence in _SENTENCE.split(text):
            piece = tokens(sentence)
            out.extend(piece[i : i + PACK] for i in range(0, len(piece), PACK))
        return out[-MAX_WINDOWS:]

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
