"""The OpenAI chat-completions and embeddings codec, both directions.

Ingress (a client speaks OpenAI to Lockgate): ``decode_*_request`` validate cheaply and raise
``InvalidRequest`` naming the offending field; ``encode_*_response`` and ``ChatStreamEncoder``
produce what the official SDKs parse. Provider side (Lockgate speaks OpenAI to OpenAI, Azure
OpenAI or an OpenAI-compatible server): ``encode_*_request``, ``decode_*_response``,
``ChatStreamDecoder`` and ``decode_error``.

This module holds the provider-side chat request encoder and re-exports the rest: request
decoding lives in ``openai_ingress``, responses, embeddings and errors in ``openai_response``,
streaming in ``openai_stream``.

Mappings worth knowing:
- ``system`` and ``developer`` messages become the canonical system prompt, in order. A system
  message in the middle of a conversation is hoisted to the front: the canonical form (like
  Anthropic and Gemini) has a single system prompt.
- Fields that would change the answer and that Lockgate cannot carry to every provider (audio,
  legacy ``functions``, ``logprobs``, ``logit_bias``, web search) are rejected with 400 rather
  than silently dropped. Unknown fields are not an error (SDKs add new ones all the time): a
  provider of this format gets them with the client's own body (``openai_passthrough``);
  translated for another provider, they are listed in ``ChatRequest.ignored`` and named in the
  ``x-lockgate-dropped-params`` header.
- ``reasoning_effort`` is the canonical ``Reasoning`` (``lockgate.wire.reasoning`` maps it to
  other providers); reasoning text from OpenAI-compatible servers (``reasoning_content``) is
  canonical thinking, sent to an OpenAI client only when it opted in.
- Provider side, ``top_k`` and ``Message.is_error`` are not sent: OpenAI has no such fields.
"""

from __future__ import annotations

from typing import Any

from lockgate.wire.openai_ingress import decode_chat_request
from lockgate.wire.openai_response import (
    decode_chat_response,
    decode_embedding_request,
    decode_embedding_response,
    decode_error,
    encode_chat_response,
    encode_embedding_request,
    encode_embedding_response,
    encode_model_list,
    iter_embedding_response,
)
from lockgate.wire.openai_stream import ChatStreamDecoder, ChatStreamEncoder
from lockgate.wire.reasoning import effort_of
from lockgate.wire.types import ChatRequest, Part, ResponseFormat, TextPart, Tool, ToolChoice

__all__ = [
    "ChatStreamDecoder",
    "ChatStreamEncoder",
    "decode_chat_request",
    "decode_chat_response",
    "decode_embedding_request",
    "decode_embedding_response",
    "decode_error",
    "dropped_params",
    "encode_chat_request",
    "encode_chat_response",
    "encode_embedding_request",
    "encode_embedding_response",
    "encode_model_list",
    "iter_embedding_response",
]

# --- provider side: encode a request for an OpenAI-speaking upstream -------------------------


def encode_chat_request(
    req: ChatRequest, *, model: str, max_tokens_field: str = "max_tokens"
) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "messages": _encode_messages(req)}
    if req.max_tokens is not None:
        out[max_tokens_field] = req.max_tokens
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "n"):
        value = getattr(req, key)
        if value is not None:
            out[key] = value
    if req.stop:
        out["stop"] = req.stop
    if req.tools:
        out["tools"] = [_encode_tool(t) for t in req.tools]
        # OpenAI rejects tool_choice and parallel_tool_calls when no tools are sent.
        if req.tool_choice is not None:
            out["tool_choice"] = _encode_tool_choice(req.tool_choice)
            if req.tool_choice.parallel is not None:
                out["parallel_tool_calls"] = req.tool_choice.parallel
    if req.response_format is not None:
        out["response_format"] = _encode_response_format(req.response_format)
    if req.stream:
        # Always ask for usage: settlement needs exact tokens; the client's choice is applied by
        # the stream encoder.
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if req.user is not None:
        out["user"] = req.user
    if req.metadata:
        out["metadata"] = req.metadata
    if req.reasoning is not None:
        effort = effort_of(req.reasoning)
        if effort is not None:
            out["reasoning_effort"] = effort
    return out


def dropped_params(req: ChatRequest) -> list[str]:
    """Canonical fields set on ``req`` that an OpenAI request does not carry. Thinking blocks
    of earlier turns are not listed: they are bound to the provider that wrote them."""
    out: list[str] = []
    if req.top_k is not None:
        out.append("top_k")
    if req.reasoning is not None and effort_of(req.reasoning) is None:
        out.append("thinking")
    if any(p.cache_control is not None for m in req.messages for p in m.content) or any(
        p.cache_control is not None for p in req.system
    ):
        out.append("cache_control")  # OpenAI caches prompts by itself
    return out


def _encode_messages(req: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": p.text} for p in req.system]
    for m in req.messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text()})
            continue
        msg: dict[str, Any] = {"role": m.role}
        if m.role == "assistant":
            text = m.text()
            msg["content"] = text if text or not m.tool_calls else None
            if m.tool_calls:
                msg["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in m.tool_calls
                ]
        else:
            msg["content"] = _encode_user_content(m.content)
        if m.name is not None:
            msg["name"] = m.name
        out.append(msg)
    return out


def _encode_user_content(parts: list[Part]) -> str | list[dict[str, Any]]:
    # A lone text part goes as a plain string: every OpenAI-compatible server accepts that.
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            out.append({"type": "text", "text": p.text})
            continue
        url = p.url if p.data is None else f"data:{p.media_type or 'image/png'};base64,{p.data}"
        image: dict[str, Any] = {"url": url}
        if p.detail is not None:
            image["detail"] = p.detail
        out.append({"type": "image_url", "image_url": image})
    return out


def _encode_tool(t: Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.name}
    if t.description is not None:
        fn["description"] = t.description
    if t.parameters:
        fn["parameters"] = t.parameters
    if t.strict is not None:
        fn["strict"] = t.strict
    return {"type": "function", "function": fn}


def _encode_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def _encode_response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec: dict[str, Any] = {"name": fmt.name or "response"}
    if fmt.schema is not None:
        spec["schema"] = fmt.schema
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}
