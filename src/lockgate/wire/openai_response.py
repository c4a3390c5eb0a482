"""OpenAI chat responses, embeddings, the model list and error bodies (see ``openai``)."""

from __future__ import annotations

import base64
import sys
import time
from array import array
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import orjson

from lockgate.errors import InvalidRequest, UpstreamProtocolError
from lockgate.wire.types import (
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Part,
    StopReason,
    TextPart,
    ThinkingPart,
    ToolCall,
    Usage,
)

_STOP_FROM_OPENAI: MappingProxyType[str, StopReason] = MappingProxyType(
    {
        "stop": "stop",
        "length": "length",
        "tool_calls": "tool_calls",
        "function_call": "tool_calls",
        "content_filter": "content_filter",
    }
)
_MAX_ERROR_TEXT = 500


def stop_from_openai(reason: object) -> StopReason:
    # Unknown reasons from OpenAI-compatible servers (e.g. "eos") are natural ends.
    return _STOP_FROM_OPENAI.get(reason, "stop") if isinstance(reason, str) else "stop"


def stop_to_openai(reason: StopReason) -> str:
    # OpenAI has no "error" finish reason; the SDK only accepts its own set.
    return "stop" if reason == "error" else reason


def _int(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def usage_from_openai(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    out_details = raw.get("completion_tokens_details")
    reasoning = _int(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0
    return Usage(
        input_tokens=_int(raw.get("prompt_tokens")),
        output_tokens=_int(raw.get("completion_tokens")),
        cached_input_tokens=cached,
        reasoning_tokens=reasoning,
    )


def usage_to_openai(u: Usage) -> dict[str, Any]:
    """OpenAI has no field for cache writes: they stay in ``prompt_tokens`` (as they do in
    Anthropic's total), and are priced at their own rate in Lockgate's records."""
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


# --- chat responses --------------------------------------------------------------------------


def encode_chat_response(resp: ChatResponse, *, model: str, reasoning: bool = False) -> bytes:
    """``reasoning``: the client opted in to the model's reasoning text, sent apart from the
    answer as ``message.reasoning_content`` (never in ``content``)."""
    text = resp.text()
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not resp.tool_calls else None,
        "refusal": None,
    }
    if reasoning and resp.thinking:
        message["reasoning_content"] = "".join(t.text for t in resp.thinking)
    if resp.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in resp.tool_calls
        ]
    out: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": stop_to_openai(resp.stop_reason),
                "logprobs": None,
            }
        ],
    }
    if resp.usage is not None:
        out["usage"] = usage_to_openai(resp.usage)
    return orjson.dumps(out)


def _protocol(message: str) -> UpstreamProtocolError:
    return UpstreamProtocolError(f"upstream chat completion is malformed: {message}")


def decode_chat_response(body: object) -> ChatResponse:
    if not isinstance(body, dict):
        raise _protocol("the body is not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _protocol("choices is missing or empty")
    # Only the first choice is kept: the canonical response holds one.
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise _protocol("choices[0].message is missing")
    raw_calls = message.get("tool_calls")
    calls = _decode_tool_calls(raw_calls) if raw_calls else []
    created = body.get("created")
    # OpenAI-compatible reasoning servers (vLLM, DeepSeek) return the reasoning apart.
    reasoning = message.get("reasoning_content")
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=_decode_content(message),
        tool_calls=calls,
        stop_reason=stop_from_openai(choice.get("finish_reason")),
        usage=usage_from_openai(body.get("usage")),
        created=created if isinstance(created, int) else 0,
        thinking=[ThinkingPart(reasoning)] if isinstance(reasoning, str) and reasoning else [],
    )


def _decode_content(message: dict[str, Any]) -> list[Part]:
    content = message.get("content")
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    if isinstance(content, list):  # a few compatible servers answer with text parts
        return [
            TextPart(p["text"])
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    if content is not None:
        raise _protocol("choices[0].message.content is not a string")
    refusal = message.get("refusal")
    # A refusal is the model's answer; pass it on as text rather than drop it.
    return [TextPart(refusal)] if isinstance(refusal, str) and refusal else []


def _decode_tool_calls(raw: object) -> list[ToolCall]:
    if not isinstance(raw, list):
        raise _protocol("choices[0].message.tool_calls is not an array")
    calls: list[ToolCall] = []
    for k, tc in enumerate(raw):
        fn = tc.get("function") if isinstance(tc, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _protocol(f"choices[0].message.tool_calls[{k}].function is malformed")
        args = fn.get("arguments")
        if not isinstance(args, str):
            # Some compatible servers send arguments as an object; canonical form is JSON text.
            args = "" if args is None else orjson.dumps(args).decode()
        call_id = tc.get("id")
        calls.append(
            ToolCall(
                id=call_id if isinstance(call_id, str) else "", name=fn["name"], arguments=args
            )
        )
    return calls


# --- embeddings ------------------------------------------------------------------------------


def decode_embedding_request(body: object) -> EmbeddingRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required and must be a non-empty string", param="model")
    req = EmbeddingRequest(model=model, inputs=_decode_inputs(body.get("input")))
    dims = body.get("dimensions")
    if dims is not None:
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
        req.dimensions = dims
    fmt = body.get("encoding_format")
    if fmt is not None:
        if fmt not in ("float", "base64"):
            raise InvalidRequest(
                "encoding_format must be 'float' or 'base64'", param="encoding_format"
            )
        req.encoding_format = fmt
    user = body.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise InvalidRequest("user must be a string", param="user")
        req.user = user
    return req


def _decode_inputs(raw: object) -> list[str]:
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw:
        if not isinstance(raw[0], str):
            if isinstance(raw[0], int | list):
                raise InvalidRequest("input: token arrays are not supported", param="input")
            raise InvalidRequest("input must be a string or an array of strings", param="input")
        inputs = raw
    elif isinstance(raw, list):
        raise InvalidRequest("input must not be empty", param="input")
    else:
        raise InvalidRequest(
            "input is required and must be a string or an array of strings", param="input"
        )
    for i, s in enumerate(inputs):
        if not isinstance(s, str) or not s:
            raise InvalidRequest(f"input[{i}] must be a non-empty string", param=f"input[{i}]")
    return inputs


def _pack_float32(vector: list[float]) -> str:
    packed = array("f", vector)
    if sys.byteorder != "little":  # OpenAI sends little-endian float32
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _unpack_float32(data: str) -> list[float]:
    packed = array("f")
    packed.frombytes(base64.b64decode(data))
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tolist()


def encode_embedding_response(
    resp: EmbeddingResponse, *, model: str, encoding_format: str = "float"
) -> bytes:
    """``encoding_format`` is the client's request field: "base64" packs float32 vectors."""
    b64 = encoding_format == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": _pack_float32(v) if b64 else v}
        for i, v in enumerate(resp.vectors)
    ]
    tokens = resp.usage.input_tokens
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def iter_embedding_response(
    resp: EmbeddingResponse, *, model: str, encoding_format: str = "float", slice_size: int = 256
) -> Iterator[bytes]:
    """``encode_embedding_response`` in pieces of ``slice_size`` vectors (joined, the same
    bytes), so a caller can let other work run between pieces of a large response."""
    b64 = encoding_format == "base64"
    vectors = resp.vectors
    yield b'{"object":"list","data":['
    for start in range(0, len(vectors), slice_size):
        items = [
            {"object": "embedding", "index": i, "embedding": _pack_float32(v) if b64 else v}
            for i, v in enumerate(vectors[start : start + slice_size], start)
        ]
        piece = orjson.dumps(items)[1:-1]
        yield b"," + piece if start else piece
    tokens = resp.usage.input_tokens
    tail = {"model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    yield b"]," + orjson.dumps(tail)[1:]


def encode_embedding_request(req: EmbeddingRequest, *, model: str) -> dict[str, Any]:
    # Vectors are always asked for as floats: every compatible server supports that, and the
    # client's encoding_format is applied by encode_embedding_response.
    out: dict[str, Any] = {"model": model, "input": req.inputs}
    if req.dimensions is not None:
        out["dimensions"] = req.dimensions
    if req.user is not None:
        out["user"] = req.user
    return out


def decode_embedding_response(body: object) -> EmbeddingResponse:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(data, list):
        raise UpstreamProtocolError("upstream embedding response is malformed: data is missing")
    items: list[tuple[int, list[float]]] = []
    for i, item in enumerate(data):
        emb = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(emb, str):
            emb = _unpack_float32(emb)
        elif not isinstance(emb, list):
            raise UpstreamProtocolError(
                f"upstream embedding response is malformed: data[{i}].embedding is missing"
            )
        index = item.get("index")
        items.append((index if isinstance(index, int) else i, emb))
    items.sort(key=lambda t: t[0])
    usage = usage_from_openai(body.get("usage")) or Usage()
    return EmbeddingResponse(
        model=str(body.get("model") or ""), vectors=[v for _, v in items], usage=usage
    )


# --- model list and errors -------------------------------------------------------------------


def encode_model_list(models: list[tuple[str, str]], *, created: int) -> bytes:
    return orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": mid, "object": "model", "created": created, "owned_by": owner}
                for mid, owner in models
            ],
        }
    )


def decode_error(status: int, body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code or else type, param) from an upstream error body.

    The code is preferred to the type because it is the more specific of the two
    (``context_length_exceeded`` vs ``invalid_request_error``). Bodies that are not OpenAI
    envelopes (proxies' HTML pages, FastAPI ``detail``) still give a usable message.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        err = parsed.get("error", parsed)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail")
            code = err.get("code")
            kind = code if isinstance(code, str) and code else err.get("type")
            param = err.get("param")
            if isinstance(message, str) and message:
                return (
                    message,
                    kind if isinstance(kind, str) else None,
                    param if isinstance(param, str) else None,
                )
        elif isinstance(err, str) and err:
            return err, None, None
    text = body.decode("utf-8", "replace").strip()[:_MAX_ERROR_TEXT]
    return text or f"upstream returned HTTP {status}", None, None
