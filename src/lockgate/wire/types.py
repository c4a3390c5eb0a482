"""The canonical representation of model calls.

Every ingress format is decoded into these types and every provider format is encoded from
them, so a request in one format can be served by a provider speaking another. They carry no
vendor names. Codecs in this package convert to and from them and never do I/O.

Conventions:
- Roles are ``user``, ``assistant`` and ``tool``; the system prompt is separate (``system``).
- A tool result is a ``Message(role="tool", tool_call_id=..., content=[...])``; a format that
  nests results inside a user turn (Anthropic, Gemini) splits and joins them in its codec.
- Tool call arguments are kept as the JSON *string* the model produced.
- ``StopReason`` is one of ``stop`` (natural end or stop sequence), ``length`` (max tokens),
  ``tool_calls``, ``content_filter``, ``error``.
- Fields a format cannot express are mapped or dropped explicitly by that format's codec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]
StopReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]
ToolChoiceMode = Literal["auto", "none", "required", "tool"]
ResponseFormatType = Literal["text", "json_object", "json_schema"]


@dataclass(slots=True)
class TextPart:
    text: str
    # A prompt-caching breakpoint (Anthropic's ``{"type": "ephemeral", "ttl"?}``): carried to
    # providers that take one, ignored by the others (their caching is automatic).
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ThinkingPart:
    """A model's reasoning, kept so it can be sent back in the next turn (a tool loop with
    thinking needs it). ``signature`` binds it to the provider that wrote it; ``redacted``
    holds an encrypted block's opaque data instead of text."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None


@dataclass(slots=True)
class ImagePart:
    """An image given by URL, or inline as base64 ``data`` with its ``media_type``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    cache_control: dict[str, Any] | None = None


Part = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as produced by the model


@dataclass(slots=True)
class Message:
    role: Role
    content: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)  # assistant only
    tool_call_id: str | None = None  # tool only
    is_error: bool = False  # tool only: the tool reported a failure
    name: str | None = None
    thinking: list[ThinkingPart] = field(default_factory=list)  # assistant only, in order
    cache_control: dict[str, Any] | None = None  # tool only: on the result block

    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(slots=True)
class Reasoning:
    """How much the model should think before answering.

    ``effort`` is the OpenAI scale (``minimal``, ``low``, ``medium``, ``high``); ``budget`` a
    token budget (Anthropic ``thinking.budget_tokens``, Gemini ``thinkingBudget``). A codec
    maps whichever is set to what its provider takes (``lockgate.wire.reasoning``). ``enabled``
    False turns thinking off where the provider allows it.
    """

    effort: str | None = None
    budget: int | None = None
    enabled: bool = True
    adaptive: bool = False  # let the model decide (Anthropic adaptive, Gemini budget -1)


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # JSON Schema
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolChoice:
    mode: ToolChoiceMode = "auto"
    name: str | None = None  # when mode == "tool"
    parallel: bool | None = None  # None: provider default


@dataclass(slots=True)
class ResponseFormat:
    type: ResponseFormatType = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0  # part of output_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    system: list[TextPart] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    stop: list[str] = field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    n: int | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    include_usage: bool = False  # the client asked for usage in the stream
    user: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reasoning: Reasoning | None = None
    # Top-level fields of the client's body that no canonical field carries: a provider of
    # the client's format gets them (passthrough); any other drops them, and the gateway
    # names them in the x-lockgate-dropped-params header and the request log.
    ignored: list[str] = field(default_factory=list)
    include_reasoning: bool = False  # an OpenAI client opted in to reasoning text

    def system_text(self) -> str:
        return "\n\n".join(p.text for p in self.system)


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    content: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    stop_reason: StopReason = "stop"
    stop_sequence: str | None = None
    usage: Usage | None = None
    created: int = 0
    thinking: list[ThinkingPart] = field(default_factory=list)  # before the content

    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


# --- streaming -------------------------------------------------------------------------------
# A stream is: one StreamStart, then any number of TextDelta / ToolCallStart / ToolCallDelta,
# then one StreamEnd (stop reason and, when known, usage). A decoder that learns usage only
# after the stop reason (OpenAI's separate usage chunk) emits StreamEnd once it has both or the
# upstream stream ends.


@dataclass(slots=True)
class StreamStart:
    id: str
    model: str
    created: int = 0
    usage: Usage | None = None  # some formats report input tokens at the start


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolCallStart:
    index: int  # position of this call among the response's tool calls, from 0
    id: str
    name: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON text


@dataclass(slots=True)
class ThinkingDelta:
    """A fragment of reasoning text, or the signature (or redacted data) that closes a
    thinking block; a new block starts after a signature or redacted data."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None


@dataclass(slots=True)
class StreamEnd:
    stop_reason: StopReason = "stop"
    stop_sequence: str | None = None
    usage: Usage | None = None


Chunk = StreamStart | TextDelta | ThinkingDelta | ToolCallStart | ToolCallDelta | StreamEnd


# --- embeddings ------------------------------------------------------------------------------


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[str]
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None


@dataclass(slots=True)
class EmbeddingResponse:
    model: str
    vectors: list[list[float]]
    usage: Usage = field(default_factory=Usage)
