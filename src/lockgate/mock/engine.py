"""The vendor-neutral brain of the mock provider: deterministic replies, tokens, embeddings.

Shared by the standalone ``lockgate mock-upstream`` server and the gateway's in-process
``mock`` provider, so both answer the same prompt the same way. Nothing here knows a wire
format; the ``formats_*`` modules encode what this module decides.

Determinism is the point: the same request always yields the same text, tool call, token
counts and vectors, and failures injected by ``fail_rate`` follow a counter, not a random
generator, so tests can predict exactly which request fails.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Literal

import orjson

MockStop = Literal["stop", "length", "tool_calls"]

DIRECTIVE_MARK = "[[mock:"
_DIRECTIVE = re.compile(r"\[\[mock:([a-z]+)(?:=(\d+))?\]\]")
_REPLY_WORDS = 8  # words of the prompt echoed in the reply
_QUERY_CHARS = 64  # characters of the prompt put in a tool call's arguments
_ARG_FRAGMENT = 12  # characters per streamed tool-argument fragment
MOCK_WINDOW = 8192  # the context window named in the [[mock:overflow]] errors


@dataclass(frozen=True, slots=True)
class MockBehaviour:
    """Server-wide behaviour; directives in a request can override parts of it."""

    latency_ms: float = 0.0  # delay before the response / before the first stream event
    ttft_ms: float = 0.0  # extra delay before the first token of a stream
    tokens_per_s: float = 0.0  # 0 = as fast as possible; else pace stream chunks
    fail_rate: float = 0.0  # fraction of requests answered with fail_status (see FailCounter)
    fail_status: int = 500
    context_window: int = 0  # > 0: longer prompts get the format's context-length error


@dataclass(frozen=True, slots=True)
class Directives:
    """Per-request overrides written into the last user text as ``[[mock:name=value]]``."""

    status: int | None = None  # answer this error status
    slow_ms: float = 0.0  # extra delay before the response
    hang: bool = False  # send headers (or one chunk) then wait for the client to go away
    malformed: bool = False  # 200 with a body that is not valid JSON
    nousage: bool = False  # omit usage from the response
    overflow: bool = False  # answer 400 with the format's "prompt too long" error
    cut: int | None = None  # a stream breaks (connection dropped) after this many tokens
    cached: int = 0  # report this many prompt tokens as read from the provider's cache
    stall: int | None = None  # a stream sends this many tokens, then waits for the client to go

    @property
    def any(self) -> bool:
        return self != _NO_DIRECTIVES


_NO_DIRECTIVES = Directives()


def parse_directives(text: str) -> Directives:
    """Directives found in ``text``; cheap when there are none (no regex scan)."""
    if DIRECTIVE_MARK not in text:
        return _NO_DIRECTIVES
    status: int | None = None
    cut: int | None = None
    cached = 0
    stall: int | None = None
    slow = 0.0
    flags: set[str] = set()
    for name, value in _DIRECTIVE.findall(text):
        if name == "status" and value:
            status = int(value)
        elif name == "slow" and value:
            slow = float(value)
        elif name == "cut" and value:
            cut = int(value)
        elif name == "cached" and value:
            cached = int(value)
        elif name == "stall" and value:
            stall = int(value)
        else:
            flags.add(name)
    return Directives(
        status=status,
        slow_ms=slow,
        hang="hang" in flags,
        malformed="malformed" in flags,
        nousage="nousage" in flags,
        overflow="overflow" in flags,
        cut=cut,
        cached=cached,
        stall=stall,
    )


def strip_directives(text: str) -> str:
    if DIRECTIVE_MARK not in text:
        return text
    return " ".join(_DIRECTIVE.sub(" ", text).split())


class FailCounter:
    """Counter-based failure injection: request n (from 1) fails when
    ``floor(n * rate) != floor((n - 1) * rate)``. With rate 1/k exactly every k-th request
    fails; with rate 0.3, 3 of every 10; the pattern is reproducible from a reset."""

    __slots__ = ("n", "rate")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.n = 0

    def should_fail(self) -> bool:
        if self.rate <= 0.0:
            return False
        self.n += 1
        # Small epsilon so that rates like 0.1 (inexact in binary) hit every 10th request.
        eps = 1e-9
        return math.floor(self.n * self.rate + eps) != math.floor((self.n - 1) * self.rate + eps)

    def reset(self) -> None:
        self.n = 0


@dataclass(frozen=True, slots=True)
class MockToolCall:
    name: str
    arguments: str  # a JSON object, as text
    fragments: tuple[str, ...]  # ``arguments`` split for streaming; joined they are equal


@dataclass(frozen=True, slots=True)
class MockReply:
    pieces: tuple[str, ...]  # text tokens; joined they form the text
    tool_call: MockToolCall | None
    stop: MockStop
    output_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass(slots=True)  # not frozen: built per request, and frozen __init__ is slower
class ChatCall:
    """What a format module extracts from a chat request; all the engine needs."""

    model: str
    prompt_text: str  # last user text, or the tool result when the last turn is a tool result
    user_text: str  # last user-written text: where directives are read from
    all_text: str  # everything the prompt contains, for input token counts
    last_role: str  # "user", "assistant" or "tool"
    tools: list[str] = field(default_factory=list)  # names the model may call (forced: one)
    tool_choice_none: bool = False
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = False  # OpenAI's stream_options.include_usage
    thinking: bool = False  # the request asks the model to reason first
    # The prompt up to its last cache breakpoint (Anthropic ``cache_control``): written to
    # the mock's prompt cache the first time, read from it afterwards.
    cache_prefix: str | None = None


def thinking_for(prompt_text: str) -> str:
    """The mock's reasoning for a prompt (when the request asks for reasoning)."""
    return f"Thinking about: {_words(strip_directives(prompt_text), _REPLY_WORDS)}"


def signature_for(thinking: str) -> str:
    """The signature the mock puts on its reasoning, and checks when it comes back."""
    return "mocksig-" + hashlib.blake2b(thinking.encode(), digest_size=12).hexdigest()


def count_tokens(text: str) -> int:
    """A deterministic estimate: one token per 4 characters, at least 1 for non-empty text."""
    if not text:
        return 0
    return (len(text) + 3) // 4


def _words(text: str, limit: int) -> str:
    return " ".join(text.split()[:limit])


def _split_pieces(text: str) -> tuple[str, ...]:
    """Words with their leading space, like a tokenizer would emit them."""
    words = text.split(" ")
    return (words[0], *(" " + w for w in words[1:]))


def _tool_call(name: str, prompt: str) -> MockToolCall:
    args = orjson.dumps({"query": strip_directives(prompt)[:_QUERY_CHARS]}).decode()
    frags = tuple(args[i : i + _ARG_FRAGMENT] for i in range(0, len(args), _ARG_FRAGMENT))
    return MockToolCall(name=name, arguments=args, fragments=frags)


def reply_for(
    prompt_text: str,
    *,
    tools: list[str],
    tool_choice_none: bool,
    last_role: str,
    max_tokens: int | None,
) -> MockReply:
    """The deterministic answer to a conversation.

    - tools offered, last turn from the user, tool choice not ``none`` → one call to the first
      tool with ``{"query": <prompt, truncated>}``; ``max_tokens`` does not cut a tool call;
    - last turn a tool result → a text answer quoting the result;
    - otherwise "Mock reply to: <first 8 words>"; ``max_tokens`` cuts it (stop ``length``).
    """
    prompt = strip_directives(prompt_text)
    if tools and not tool_choice_none and last_role == "user":
        call = _tool_call(tools[0], prompt)
        return MockReply((), call, "tool_calls", count_tokens(call.name + call.arguments))
    if last_role == "tool":
        text = f"Tool result: {_words(prompt, _REPLY_WORDS)}" if prompt else "Tool result received."
    else:
        text = f"Mock reply to: {_words(prompt, _REPLY_WORDS)}" if prompt else "Mock reply."
    pieces = _split_pieces(text)
    stop: MockStop = "stop"
    if max_tokens is not None and max_tokens < len(pieces):
        pieces = pieces[: max(max_tokens, 0)]
        stop = "length"
    return MockReply(pieces, None, stop, len(pieces))


def embed(text: str, dims: int) -> list[float]:
    """A deterministic unit vector of ``dims`` floats derived from a hash of ``text``."""
    dims = max(dims, 1)
    raw = bytearray()
    counter = 0
    seed = text.encode()
    while len(raw) < dims * 4:
        raw += hashlib.blake2b(seed + counter.to_bytes(4, "little"), digest_size=64).digest()
        counter += 1
    ints = struct.unpack(f"<{dims}i", bytes(raw[: dims * 4]))
    vec = [i / 2147483648.0 for i in ints]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]
