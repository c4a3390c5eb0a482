"""Sentence embeddings (all-MiniLM-L6-v2, int8 ONNX): mean-pooled, L2-normalised, 384-d.

One ONNX session on one thread; the hub runs it in its own executor, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from lockgate.ml.assets import Assets

DIM = 384
MAX_TOKENS = 256  # the model's sequence limit (sentence-transformers' max_seq_length)
WINDOW = 128  # the classifier's sequence length (jailguard truncates there)

Vectors = npt.NDArray[np.float32]


class Embedder:
    def __init__(self, assets: Assets) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(assets.model_path), options, providers=["CPUExecutionProvider"]
        )
        tok = Tokenizer.from_str(assets.tokenizer_json)
        tok.no_truncation()
        tok.no_padding()
        self._tok = tok

    def token_ids(self, text: str) -> list[int]:
        """Word pieces of ``text`` without [CLS]/[SEP]."""
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def embed_ids(self, batch: Sequence[Sequence[int]]) -> Vectors:
        """Embeddings of pre-tokenised texts (each at most MAX_TOKENS - 2 pieces)."""
        width = max(len(ids) for ids in batch) + 2
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for i, pieces in enumerate(batch):
            row = [101, *pieces, 102]  # [CLS] ... [SEP]
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        (hidden,) = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        summed = (hidden * mask[..., None]).sum(axis=1)
        pooled = summed / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_ids([self.token_ids(t)[: MAX_TOKENS - 2] for t in texts])
