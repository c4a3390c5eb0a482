"""The ingress formats Lockgate serves, each bundling its codec entry points and envelopes.

Ingress handlers are written once against ``IngressFormat``; this is the only place that says
which route speaks which vendor's format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lockgate.errors import GatewayError
from lockgate.wire import anthropic, openai
from lockgate.wire.sse import encode_event
from lockgate.wire.types import ChatRequest, ChatResponse, Chunk


class StreamEncoder(Protocol):
    def encode(self, chunk: Chunk) -> bytes: ...
    def close(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class IngressFormat:
    name: str
    decode_chat: Callable[[object], ChatRequest]
    # (response, model, reasoning opt-in) and (model, include_usage, reasoning opt-in)
    encode_chat: Callable[[ChatResponse, str, bool], bytes]
    stream_encoder: Callable[[str, bool, bool], StreamEncoder]
    error_body: Callable[[GatewayError], bytes]
    stream_error: Callable[[GatewayError], bytes]
    error_status: Callable[[GatewayError], int] = lambda e: e.http_status


def _openai_encode(resp: ChatResponse, model: str, reasoning: bool) -> bytes:
    return openai.encode_chat_response(resp, model=model, reasoning=reasoning)


def _openai_stream(model: str, include_usage: bool, reasoning: bool) -> StreamEncoder:
    return openai.ChatStreamEncoder(model=model, include_usage=include_usage, reasoning=reasoning)


def _anthropic_encode(resp: ChatResponse, model: str, reasoning: bool) -> bytes:
    # Anthropic clients always get thinking blocks: the format has them.
    return anthropic.encode_chat_response(resp, model=model)


def _anthropic_stream(model: str, include_usage: bool, reasoning: bool) -> StreamEncoder:
    return anthropic.ChatStreamEncoder(model=model, include_usage=include_usage)


OPENAI = IngressFormat(
    name="openai",
    decode_chat=openai.decode_chat_request,
    encode_chat=_openai_encode,
    stream_encoder=_openai_stream,
    error_body=lambda e: e.openai_body(),
    stream_error=lambda e: encode_event(e.openai_body()),
)

ANTHROPIC = IngressFormat(
    name="anthropic",
    decode_chat=anthropic.decode_chat_request,
    encode_chat=_anthropic_encode,
    stream_encoder=_anthropic_stream,
    error_body=lambda e: e.anthropic_body(),
    stream_error=lambda e: encode_event(e.anthropic_body(), "error"),
    error_status=lambda e: e.anthropic_status,
)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    kind: str  # chat | count_tokens | embeddings | models
    format: IngressFormat


ROUTES: dict[str, Route] = {
    "/v1/chat/completions": Route("POST", "chat", OPENAI),
    "/v1/messages": Route("POST", "chat", ANTHROPIC),
    "/v1/messages/count_tokens": Route("POST", "count_tokens", ANTHROPIC),
    "/v1/embeddings": Route("POST", "embeddings", OPENAI),
    "/v1/models": Route("GET", "models", OPENAI),
}

# The codecs of the single-format routes.
decode_count_tokens = anthropic.decode_count_tokens_request
encode_count_tokens = anthropic.encode_count_tokens_response
decode_embeddings = openai.decode_embedding_request
encode_embeddings = openai.encode_embedding_response
iter_embeddings = openai.iter_embedding_response
encode_model_list = openai.encode_model_list
