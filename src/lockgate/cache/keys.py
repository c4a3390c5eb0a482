"""What a cache key covers: the request after the request policies ran (a redaction
included), the model, the scope and the guards that apply.

Everything that can change the answer is in the digest — messages, system prompt, tools, tool
choice, sampling parameters, stop sequences, max tokens, response format — by serialising the
canonical request whole, minus the fields that cannot (``stream``, ``include_usage``,
``user``, ``metadata``). A field added to the canonical request later is covered without a
change here. Both ingress formats decode to the same canonical request, so they share
entries. Keys of ``tenant``, ``app`` and ``key`` scopes carry the tenant's hash tag, like the
limit counters, and never match another tenant's.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import orjson

from lockgate.identity.principal import Principal
from lockgate.wire.types import ChatRequest, EmbeddingRequest

VERSION = b"lgc1"


def scope_id(scope: str, p: Principal) -> str:
    """The cache namespace of ``p`` under ``scope``, hash-tagged for Redis Cluster."""
    if scope == "global":
        return "{cache:global}"
    tenant = "{t:" + p.tenant_name + "}"
    if scope == "tenant":
        return tenant
    if scope == "app":
        return f"{tenant}:a:{p.app_id}"
    return f"{tenant}:k:{p.key_id or p.app_id}"


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(VERSION, digest_size=20)
    for part in parts:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.hexdigest()


def chat_key(req: ChatRequest, guards: bytes) -> str:
    neutral = replace(req, stream=False, include_usage=False, user=None, metadata={})
    return _digest(b"chat", orjson.dumps(neutral, option=orjson.OPT_SORT_KEYS), guards)


def embedding_key(req: EmbeddingRequest, guards: bytes) -> str:
    neutral = replace(req, encoding_format="float", user=None)
    return _digest(b"emb", orjson.dumps(neutral, option=orjson.OPT_SORT_KEYS), guards)


def context_key(req: ChatRequest, guards: bytes) -> str:
    """For the semantic cache: everything but the last user turn (which is embedded)."""
    rest = replace(
        req, messages=req.messages[:-1], stream=False, include_usage=False, user=None, metadata={}
    )
    return _digest(b"ctx", orjson.dumps(rest, option=orjson.OPT_SORT_KEYS), guards)
