"""Google Gemini (AI Studio, ``v1beta``) codec, provider side: canonical -> Gemini requests and
Gemini responses -> canonical. Pure, no I/O. Streaming decoding is in
:mod:`lockgate.wire.gemini_stream` and re-exported here.

Mapping notes:

- The model goes in the URL (``models/{model}:generateContent``), not the chat body.
- Tool results become ``functionResponse`` parts of a ``user`` turn, named after the assistant
  tool call with the same id (Gemini pairs calls and results by name and position, not id).
  ``response`` is the tool's text parsed as a JSON object when it is one, else
  ``{"content": text}``; a failed tool gives ``{"error": text}``.
- Call ids are never sent: AI Studio rejects ``id`` on ``functionCall``/``functionResponse``
  in requests on several model versions. On replies, a call's id is Gemini's own when it sends
  one, else ``call_<index>``.
- Gemini 3+ models reject replayed function calls without a ``thoughtSignature``; canonical
  messages cannot carry one, so for those models the first call of each assistant turn carries
  Google's documented ``skip_thought_signature_validator`` sentinel.
- Tool parameter and response schemas lose ``$schema``, ``additionalProperties`` and
  ``strict`` (recursively, never touching property *names*), which Gemini rejects. An object
  schema with no properties is omitted: Gemini rejects empty ``properties``.
- Empty turns (no text, image or call) are skipped; consecutive same-role turns are merged, so
  a tool result followed by a user message form one ``user`` turn.

Canonical fields that Gemini cannot express and that are dropped: ``user``, ``metadata``,
``stream`` and ``include_usage`` (the URL selects streaming; Gemini always reports usage),
``tool_choice.parallel``, ``Tool.strict``, ``ResponseFormat.name``/``strict``,
``ImagePart.detail``, ``Message.name``, and images inside tool results. With ``n`` > 1 only
the first candidate is decoded. ``ChatResponse.created`` is left 0 (Gemini sends no time).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import orjson

from lockgate.errors import InvalidRequest, UpstreamProtocolError
from lockgate.wire.gemini_stream import (
    ChatStreamDecoder,
    candidate_parts,
    decode_parts,
    decode_usage,
    first_candidate,
    new_response_id,
    stop_reason,
)
from lockgate.wire.reasoning import EFFORT_BUDGETS, GEMINI_DYNAMIC, budget_of, output_limit
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ImagePart,
    Message,
    Part,
    TextPart,
    Tool,
    ToolChoice,
)

__all__ = [
    "ChatStreamDecoder",
    "decode_chat_response",
    "decode_count_tokens_response",
    "decode_embedding_response",
    "decode_error",
    "encode_chat_request",
    "encode_count_tokens_request",
    "encode_embedding_request",
]

_DROPPED_SCHEMA_KEYS = frozenset({"$schema", "additionalProperties", "strict"})
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})
_SCHEMA_DATA = frozenset({"enum", "const", "default", "example", "examples"})
_IMAGE_TYPES = MappingProxyType(
    {
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "gif": "image/gif",
        "webp": "image/webp",
        "heic": "image/heic",
        "heif": "image/heif",
        "bmp": "image/bmp",
        "pdf": "application/pdf",
    }
)
_CHOICE_MODES = MappingProxyType({"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"})
_SIGNATURE_SENTINEL = "skip_thought_signature_validator"
_MAX_ERROR_TEXT = 1000


# --- chat request ----------------------------------------------------------------------------


def encode_chat_request(req: ChatRequest) -> dict[str, Any]:
    """Body of ``:generateContent`` or ``:streamGenerateContent?alt=sse``."""
    body: dict[str, Any] = {"contents": _encode_contents(req.messages, _needs_signature(req.model))}
    if req.system:
        body["systemInstruction"] = {"parts": [{"text": p.text} for p in req.system]}
    if req.tools:
        body["tools"] = [{"functionDeclarations": [_encode_tool(t) for t in req.tools]}]
    if req.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _encode_tool_choice(req.tool_choice)}
    config = _generation_config(req)
    if config:
        body["generationConfig"] = config
    return body


def _needs_signature(model: str) -> bool:
    # "gemini-3-pro-preview", "models/gemini-3.1-flash" -> major version 3.
    name = model.rsplit("/", 1)[-1]
    if not name.startswith("gemini-"):
        return False
    major = name[7:].split("-", 1)[0].split(".", 1)[0]
    return major.isdigit() and int(major) >= 3


def _encode_contents(messages: list[Message], sign_calls: bool) -> list[dict[str, Any]]:
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, as of this point
    for i, msg in enumerate(messages):
        if msg.role == "user":
            role, parts = "user", [_encode_part(p, i) for p in msg.content]
        elif msg.role == "assistant":
            role, parts = "model", _encode_assistant(msg, i, names, sign_calls)
        else:
            role, parts = "user", [_encode_tool_result(msg, i, names)]
        parts = [p for p in parts if p.get("text") != ""]
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _encode_part(part: Part, index: int) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    return _encode_image(part, index)


def _encode_image(img: ImagePart, index: int) -> dict[str, Any]:
    if img.data is not None:
        return {"inlineData": {"mimeType": img.media_type or "image/jpeg", "data": img.data}}
    url = img.url
    if not url:
        raise InvalidRequest(f"messages[{index}]: an image has neither data nor a URL")
    if url.startswith("data:"):
        # Ingress codecs turn data URLs into data parts; tolerate one that slipped through.
        header, sep, data = url[5:].partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidRequest(f"messages[{index}]: an image data URL is not base64")
        mime = header[: -len(";base64")] or "image/jpeg"
        return {"inlineData": {"mimeType": mime, "data": data}}
    return {"fileData": {"fileUri": url, "mimeType": img.media_type or _guess_type(url)}}


def _guess_type(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _IMAGE_TYPES.get(ext, "image/jpeg")


def _encode_assistant(
    msg: Message, index: int, names: dict[str, str], sign_calls: bool
) -> list[dict[str, Any]]:
    parts = [_encode_part(p, index) for p in msg.content]
    for n, call in enumerate(msg.tool_calls):
        names[call.id] = call.name
        part: dict[str, Any] = {
            "functionCall": {"name": call.name, "args": _parse_args(call.arguments, index)}
        }
        if sign_calls and n == 0:
            part["thoughtSignature"] = _SIGNATURE_SENTINEL
        parts.append(part)
    return parts


def _parse_args(arguments: str, index: int) -> dict[str, Any]:
    if not arguments.strip():
        return {}  # some clients send "" for a call without arguments
    try:
        args = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            f"messages[{index}]: tool call arguments are not valid JSON", param="messages"
        ) from None
    if not isinstance(args, dict):
        raise InvalidRequest(
            f"messages[{index}]: tool call arguments must be a JSON object", param="messages"
        )
    return args


def _encode_tool_result(msg: Message, index: int, names: dict[str, str]) -> dict[str, Any]:
    call_id = msg.tool_call_id
    name = names.get(call_id) if call_id is not None else None
    if name is None:
        name = msg.name  # a legacy function-role message names the function itself
    if name is None:
        raise InvalidRequest(
            f"messages[{index}]: tool result for unknown tool call id {call_id!r}",
            param="messages",
        )
    text = msg.text()
    response: dict[str, Any] | None = None
    if msg.is_error:
        response = {"error": text}
    elif text.lstrip().startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            response = parsed
    if response is None:
        response = {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def _encode_tool(tool: Tool) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    params = tool.parameters
    if params and not (params.get("type") == "object" and not params.get("properties")):
        decl["parameters"] = clean_schema(params)
    return decl


def clean_schema(node: Any) -> Any:
    """A copy of a JSON Schema without the keys Gemini rejects."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED_SCHEMA_KEYS:
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: clean_schema(sub) for name, sub in value.items()}
            elif key in _SCHEMA_DATA:
                out[key] = value
            else:
                out[key] = clean_schema(value)
        return out
    if isinstance(node, list):
        return [clean_schema(item) for item in node]
    return node


def _encode_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    config: dict[str, Any] = {"mode": _CHOICE_MODES[choice.mode]}
    if choice.mode == "tool":
        if not choice.name:
            raise InvalidRequest("tool_choice names no tool", param="tool_choice")
        config["allowedFunctionNames"] = [choice.name]
    return config


def _generation_config(req: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if req.stop:
        config["stopSequences"] = list(req.stop)
    for key, value in (
        ("maxOutputTokens", req.max_tokens),
        ("temperature", req.temperature),
        ("topP", req.top_p),
        ("topK", req.top_k),
        ("candidateCount", req.n),
        ("presencePenalty", req.presence_penalty),
        ("frequencyPenalty", req.frequency_penalty),
        ("seed", req.seed),
    ):
        if value is not None:
            config[key] = value
    fmt = req.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema:
            config["responseSchema"] = clean_schema(fmt.schema)
    if req.reasoning is not None:
        _thinking_config(req, config)
    return config


def _thinking_config(req: ChatRequest, config: dict[str, Any]) -> None:
    """``thinkingConfig`` from the canonical reasoning (``lockgate.wire.reasoning``): 0 turns
    thinking off, -1 lets the model decide; ``maxOutputTokens`` counts thinking, so it is
    raised when the client's limit would leave no room for the answer."""
    r = req.reasoning
    assert r is not None
    if not r.enabled:
        config["thinkingConfig"] = {"thinkingBudget": 0}
        return
    budget = budget_of(r)
    if budget is None:
        config["thinkingConfig"] = {"thinkingBudget": GEMINI_DYNAMIC}
        return
    config["thinkingConfig"] = {"thinkingBudget": budget}
    if req.max_tokens is not None:
        config["maxOutputTokens"] = output_limit(req.max_tokens, budget, 0)


def _unmapped_effort(req: ChatRequest) -> bool:
    r = req.reasoning
    return r is not None and r.effort is not None and r.effort not in EFFORT_BUDGETS


def dropped_params(req: ChatRequest) -> list[str]:
    """Canonical fields set on ``req`` that a Gemini request does not carry."""
    out: list[str] = []
    if _unmapped_effort(req):
        out.append("reasoning_effort")
    if req.user is not None:
        out.append("user")
    if req.metadata:
        out.append("metadata")
    if req.tool_choice is not None and req.tool_choice.parallel is not None:
        out.append("parallel_tool_calls")
    return out


# --- chat response ---------------------------------------------------------------------------


def decode_chat_response(body: object, *, model: str) -> ChatResponse:
    """A ``GenerateContentResponse``; ``model`` is used when the body has no modelVersion."""
    if not isinstance(body, dict):
        raise UpstreamProtocolError("Gemini response is not a JSON object")
    rid = body.get("responseId")
    version = body.get("modelVersion")
    resp = ChatResponse(
        id=rid if isinstance(rid, str) and rid else new_response_id(),
        model=version if isinstance(version, str) and version else model,
        usage=decode_usage(body.get("usageMetadata")),
    )
    cand = first_candidate(body.get("candidates"))
    if cand is None:
        feedback = body.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            resp.stop_reason = "content_filter"  # the prompt itself was blocked
            return resp
        raise UpstreamProtocolError("Gemini response has no candidates")
    texts, calls = decode_parts(candidate_parts(cand), 0)
    if texts:
        resp.content = [TextPart("".join(texts))]
    resp.tool_calls = calls
    resp.stop_reason = stop_reason(cand.get("finishReason"), bool(calls))
    return resp


# --- embeddings and token counting -----------------------------------------------------------


def _resource(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else "models/" + model


def encode_embedding_request(req: EmbeddingRequest, *, model: str) -> dict[str, Any]:
    """Body of ``:batchEmbedContents``; ``user`` and ``encoding_format`` are not sent (the
    egress codec applies base64 itself)."""
    name = _resource(model)
    requests: list[dict[str, Any]] = []
    for text in req.inputs:
        item: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if req.dimensions is not None:
            item["outputDimensionality"] = req.dimensions
        requests.append(item)
    return {"requests": requests}


def decode_embedding_response(body: object, *, model: str) -> EmbeddingResponse:
    """Gemini reports no usage for embeddings, so usage stays zero for the caller to fill."""
    embeddings = body.get("embeddings") if isinstance(body, dict) else None
    if not isinstance(embeddings, list):
        raise UpstreamProtocolError("Gemini embedding response has no 'embeddings' list")
    vectors: list[list[float]] = []
    for item in embeddings:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise UpstreamProtocolError("Gemini embedding response: an embedding has no values")
        vectors.append(values)
    return EmbeddingResponse(model=model, vectors=vectors)


def encode_count_tokens_request(req: ChatRequest, *, model: str | None = None) -> dict[str, Any]:
    """Body of ``:countTokens``.

    The ``generateContentRequest`` form is used because the bare ``contents`` form cannot
    carry the system instruction or tool declarations, which count towards the prompt. That
    form needs the model inside the body: ``model`` when given, else ``req.model``.
    """
    chat = encode_chat_request(req)
    inner: dict[str, Any] = {"model": _resource(model or req.model), "contents": chat["contents"]}
    for key in ("systemInstruction", "tools", "toolConfig"):
        if key in chat:
            inner[key] = chat[key]
    return {"generateContentRequest": inner}


def decode_count_tokens_response(body: object) -> int:
    if not isinstance(body, dict):
        raise UpstreamProtocolError("Gemini countTokens response is not a JSON object")
    total = body.get("totalTokens", 0)  # proto3 JSON omits a zero count
    if not isinstance(total, int):
        raise UpstreamProtocolError("Gemini countTokens response: 'totalTokens' is not a number")
    return total


# --- errors ----------------------------------------------------------------------------------


def decode_error(status: int, body: bytes) -> tuple[str, str | None, str | None]:
    """``(message, status string, param)`` from ``{"error": {"code", "message", "status"}}``.

    Gemini has no ``param``; the third item is always None. Non-JSON bodies (proxies, HTML
    pages) give their text, shortened, or a generic message.
    """
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]  # a non-SSE stream reports errors inside a JSON array
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict):
        message = err.get("message")
        kind = err.get("status")
        return (
            message if isinstance(message, str) and message else f"Gemini returned HTTP {status}",
            kind if isinstance(kind, str) and kind else None,
            None,
        )
    text = body.decode("utf-8", "replace").strip()[:_MAX_ERROR_TEXT]
    return (text or f"Gemini returned HTTP {status}", None, None)
