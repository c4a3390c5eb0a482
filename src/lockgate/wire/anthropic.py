"""The Anthropic Messages codec: pure conversions between Anthropic's wire format and the
canonical types, in both directions (no I/O).

Ingress (a client speaks Anthropic to Lockgate): ``decode_chat_request``,
``decode_count_tokens_request``, ``encode_chat_response``, ``encode_count_tokens_response``,
``ChatStreamEncoder``. Provider side (Lockgate speaks Anthropic upstream):
``encode_chat_request``, ``encode_count_tokens_request``, ``decode_chat_response``,
``decode_count_tokens_response``, ``ChatStreamDecoder``, ``decode_error``.

The implementation is split by concern: ``anthropic_ingress`` (client requests),
``anthropic_provider`` (upstream requests), ``anthropic_response`` (responses, usage, stop
reasons, errors) and ``anthropic_stream`` (SSE both ways).

Usage: canonical ``input_tokens`` counts every input token; Anthropic's excludes cache reads
(``cache_read_input_tokens`` = canonical ``cached_input_tokens``) and cache writes
(``cache_creation_input_tokens``), so decoding adds them and encoding subtracts them.

Stop reasons: ``end_turn``/``stop_sequence``/``pause_turn`` <-> ``stop`` (``stop_sequence``
kept), ``max_tokens``/``model_context_window_exceeded`` -> ``length``, ``tool_use`` <->
``tool_calls``, ``refusal`` <-> ``content_filter``; canonical ``error`` is sent as ``end_turn``.

What Anthropic cannot express — the one place these decisions live:

====================================  ==========================================================
Canonical field / Anthropic input     Handling
====================================  ==========================================================
``n > 1``                             InvalidRequest("n > 1 is not supported by ...")
``n == 1``                            dropped (the only behaviour Anthropic has)
``response_format``                   dropped (no JSON mode; instruct the model instead)
``seed``                              dropped (named in x-lockgate-dropped-params)
``presence_penalty``                  dropped (named)
``frequency_penalty``                 dropped (named)
``include_usage``                     dropped (Anthropic streams always report usage)
``metadata``                          dropped; only ``user`` travels, as ``metadata.user_id``
``tool_choice`` without ``tools``     dropped (Anthropic rejects it)
``ImagePart.detail``                  dropped
``Message.name``                      dropped
empty text parts                      dropped (Anthropic rejects empty text blocks)
image ``data:`` URLs                  sent as base64 sources
client ``thinking`` /                 kept (``Message.thinking``) with signatures, sent back
``redacted_thinking`` blocks          to Anthropic providers only (signatures bind them)
upstream thinking blocks and deltas   ``ThinkingPart`` / ``ThinkingDelta``; server-tool blocks
                                      are skipped
client ``cache_control``              kept on system, text, image, tool_result blocks and
                                      tools; sent to Anthropic providers
``thinking``                          canonical ``Reasoning`` (``lockgate.wire.reasoning``)
client server tools (``type`` set)    InvalidRequest naming the tool's type
client ``document`` blocks etc.       InvalidRequest naming the block type
====================================  ==========================================================

Temperature is passed through unchanged: Anthropic accepts 0-1, OpenAI 0-2, and a silent
clamp would change behaviour, so an out-of-range value gets the provider's own 400.
"""

from __future__ import annotations

from lockgate.wire.anthropic_ingress import decode_chat_request, decode_count_tokens_request
from lockgate.wire.anthropic_provider import (
    dropped_params,
    encode_chat_request,
    encode_count_tokens_request,
)
from lockgate.wire.anthropic_response import (
    decode_chat_response,
    decode_count_tokens_response,
    decode_error,
    encode_chat_response,
    encode_count_tokens_response,
)
from lockgate.wire.anthropic_stream import ChatStreamDecoder, ChatStreamEncoder

__all__ = [
    "ChatStreamDecoder",
    "ChatStreamEncoder",
    "decode_chat_request",
    "decode_chat_response",
    "decode_count_tokens_request",
    "decode_count_tokens_response",
    "decode_error",
    "dropped_params",
    "encode_chat_request",
    "encode_chat_response",
    "encode_count_tokens_request",
    "encode_count_tokens_response",
]
