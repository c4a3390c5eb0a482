"""Token estimates for when a provider reports none.

Lockgate ships no vendor tokenizer (nothing may download at run time), so counts are an
estimate: roughly one token per four characters of text, one per word-ish run for short
strings, plus a small per-message overhead as chat formats add. Provider-reported usage always
wins; these numbers are used for reservations, ``count_tokens`` where the provider has no
endpoint, the in-process mock, and streams that end without usage.
"""

from __future__ import annotations

import math

import orjson

from lockgate.wire.types import ChatRequest, ImagePart, Message, TextPart

MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 765  # a typical tiled image, a deliberate overestimate for reservations


def estimate_text(text: str) -> int:
    if not text:
        return 0
    return max(1, math.ceil(len(text.encode("utf-8")) / 4))


def _message_tokens(msg: Message) -> int:
    n = MESSAGE_OVERHEAD
    for part in msg.content:
        if isinstance(part, TextPart):
            n += estimate_text(part.text)
        elif isinstance(part, ImagePart):
            n += IMAGE_TOKENS
    for call in msg.tool_calls:
        n += estimate_text(call.name) + estimate_text(call.arguments)
    return n


def estimate_request(req: ChatRequest) -> int:
    """Prompt tokens of a chat request: system, messages and tool definitions."""
    n = estimate_text(req.system_text())
    for msg in req.messages:
        n += _message_tokens(msg)
    for tool in req.tools:
        n += estimate_text(tool.name) + estimate_text(tool.description or "")
        n += estimate_text(orjson.dumps(tool.parameters).decode())
    return n + 3
