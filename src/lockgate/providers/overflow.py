"""Recognising a provider's "the prompt is longer than the context window" answer.

Each vendor says it differently, and only in words: OpenAI and Azure OpenAI send the code
``context_length_exceeded``; OpenAI-compatible servers (vLLM and others) say "maximum context
length"; Anthropic says "prompt is too long: N tokens > M maximum"; Gemini says "The input
token count (N) exceeds the maximum number of tokens allowed (M)". Routing uses the flag to
move to a fallback model with a larger window.
"""

from __future__ import annotations

OVERFLOW_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
OVERFLOW_PHRASES = (
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "prompt is too long",
    "exceeds the maximum number of tokens",
    "exceeds the context window",
    "too many input tokens",
)


def is_context_overflow(status: int, kind: str | None, message: str) -> bool:
    """Whether an error answer means the prompt does not fit the model's context window."""
    if status not in (400, 413, 422):
        return False
    if kind in OVERFLOW_CODES:
        return True
    text = message.lower()
    return any(phrase in text for phrase in OVERFLOW_PHRASES)
