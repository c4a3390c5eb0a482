"""Token counts of requests and texts, for reservations and when a provider reports none.

Counted with the offline ``o200k_base`` tokenizer (``usage.tokenizer``) following OpenAI's
chat accounting: each message costs its content plus 3 tokens of framing (one more for a
``name``), and every reply is primed with 3 tokens. Tool definitions are counted as their JSON.
Images are a fixed, deliberately high estimate (a tiled high-detail image). Provider-reported
usage always wins; these numbers are used for limit reservations, ``count_tokens`` where a
provider has no endpoint, the in-process mock, and streams that end without usage.
"""

from __future__ import annotations

import orjson

from lockgate.usage.tokenizer import count
from lockgate.wire.types import ChatRequest, ImagePart, Message, TextPart, Usage

MESSAGE_OVERHEAD = 3
NAME_OVERHEAD = 1
REPLY_PRIMING = 3
IMAGE_TOKENS = 765


def estimate_text(text: str) -> int:
    return count(text)


def _message_tokens(msg: Message) -> int:
    n = MESSAGE_OVERHEAD
    if msg.name:
        n += NAME_OVERHEAD + count(msg.name)
    for part in msg.content:
        if isinstance(part, TextPart):
            n += count(part.text)
        elif isinstance(part, ImagePart):
            n += IMAGE_TOKENS
    for call in msg.tool_calls:
        n += count(call.name) + count(call.arguments)
    return n


def estimate_request(req: ChatRequest) -> int:
    """Prompt tokens of a chat request: system, messages and tool definitions."""
    n = REPLY_PRIMING
    if req.system:
        n += MESSAGE_OVERHEAD + count(req.system_text())
    for msg in req.messages:
        n += _message_tokens(msg)
    if req.tools:
        specs = [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in req.tools
        ]
        n += count(orjson.dumps(specs).decode())
    return n


def fill_reasoning(usage: Usage, thinking: str) -> None:
    """A provider that bills reasoning inside ``output_tokens`` without counting it apart
    (Anthropic): the reasoning share is counted from the thinking text, within the output."""
    if thinking and usage.reasoning_tokens == 0:
        usage.reasoning_tokens = min(usage.output_tokens, count(thinking))
