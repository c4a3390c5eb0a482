"""Decoding and validating a client's OpenAI chat-completions request (see ``openai``).

Validation is cheap (dict access and isinstance checks) and every ``InvalidRequest`` names the
offending field in ``param``, e.g. ``messages[2].content``.
"""

from __future__ import annotations

from typing import Any

from lockgate.errors import InvalidRequest
from lockgate.wire.types import (
    ChatRequest,
    ImagePart,
    Message,
    Part,
    Reasoning,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)

# Fields whose meaning Lockgate cannot honour across providers: (field, message). A field is
# rejected only when set to something other than its neutral value.
_UNSUPPORTED = (
    ("functions", "functions is deprecated and not supported; use tools"),
    ("function_call", "function_call is deprecated and not supported; use tool_choice"),
    ("audio", "audio output is not supported"),
    ("logprobs", "logprobs are not supported"),
    ("top_logprobs", "top_logprobs is not supported"),
    ("logit_bias", "logit_bias is not supported"),
    ("web_search_options", "web_search_options is not supported"),
)
# Fields the decoder reads (or refuses); any other is not carried to a provider of another
# format and is named in ``ChatRequest.ignored`` (the same-format passthrough carries it).
_KNOWN = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "stream",
        "stream_options",
        "user",
        "metadata",
        "reasoning_effort",
        "modalities",
        *(key for key, _ in _UNSUPPORTED),
    }
)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_TOOL_CHOICE_MODES = frozenset({"auto", "none", "required"})


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def decode_chat_request(body: object) -> ChatRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "model is required and must be a non-empty string")
    _reject_unsupported(body)
    system, messages = _decode_messages(body.get("messages"))
    req = ChatRequest(model=model, messages=messages, system=system)
    _decode_sampling(body, req)
    tools = body.get("tools")
    if tools is not None:
        req.tools = _decode_tools(tools)
    req.tool_choice = _decode_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    fmt = body.get("response_format")
    if fmt is not None:
        req.response_format = _decode_response_format(fmt)
    stream = body.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise _bad("stream", "stream must be a boolean")
        req.stream = stream
    req.include_usage = _decode_stream_options(body.get("stream_options"))
    user = body.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise _bad("user", "user must be a string")
        req.user = user
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _bad("metadata", "metadata must be an object")
        req.metadata = metadata
    effort = body.get("reasoning_effort")
    if effort is not None:
        # A level added after this was written still reaches OpenAI; other providers get
        # the levels of the budget table (``lockgate.wire.reasoning``) and name the rest.
        if not isinstance(effort, str) or not effort:
            raise _bad("reasoning_effort", "reasoning_effort must be a string such as 'low'")
        req.reasoning = Reasoning(enabled=False) if effort == "none" else Reasoning(effort=effort)
    if not body.keys() <= _KNOWN:
        req.ignored = [k for k in body if k not in _KNOWN and body[k] is not None]
    return req


def _reject_unsupported(body: dict[str, Any]) -> None:
    for key, message in _UNSUPPORTED:
        if body.get(key):  # None, false, 0, {} and [] are the neutral values
            raise _bad(key, message)
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise _bad("modalities", "modalities: only the text modality is supported")


def _decode_messages(raw: object) -> tuple[list[TextPart], list[Message]]:
    if not isinstance(raw, list):
        raise _bad("messages", "messages is required and must be an array")
    if not raw:
        raise _bad("messages", "messages must contain at least one message")
    system: list[TextPart] = []
    messages: list[Message] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _bad(where, f"{where} must be an object")
        role = m.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _bad(
                f"{where}.role",
                f"{where}.role must be one of system, developer, user, assistant, tool",
            )
        if role in ("system", "developer"):
            system.extend(_decode_text_content(m.get("content"), f"{where}.content"))
        elif role == "user":
            messages.append(_decode_user(m, where))
        elif role == "assistant":
            messages.append(_decode_assistant(m, where))
        elif role == "tool":
            messages.append(_decode_tool_result(m, where))
        else:
            raise _bad(
                f"{where}.role",
                f"{where}.role 'function' is deprecated and not supported; "
                "use a 'tool' message with tool_call_id",
            )
    if not messages:
        raise _bad("messages", "messages must contain at least one non-system message")
    return system, messages


def _decode_name(m: dict[str, Any], where: str) -> str | None:
    name = m.get("name")
    if name is not None and not isinstance(name, str):
        raise _bad(f"{where}.name", f"{where}.name must be a string")
    return name


def _decode_user(m: dict[str, Any], where: str) -> Message:
    content = m.get("content")
    param = f"{where}.content"
    if isinstance(content, str):
        parts: list[Part] = [TextPart(content)]
    elif isinstance(content, list):
        parts = [_decode_part(p, f"{param}[{j}]") for j, p in enumerate(content)]
    else:
        raise _bad(param, f"{param} must be a string or an array of content parts")
    return Message(role="user", content=parts, name=_decode_name(m, where))


def _decode_part(p: object, where: str) -> Part:
    if not isinstance(p, dict):
        raise _bad(where, f"{where} must be an object")
    kind = p.get("type")
    if kind == "text":
        text = p.get("text")
        if not isinstance(text, str):
            raise _bad(f"{where}.text", f"{where}.text must be a string")
        return TextPart(text, _cache_control(p, where))
    if kind == "image_url":
        return _decode_image(p.get("image_url"), f"{where}.image_url")
    if kind == "input_audio":
        raise _bad(f"{where}.type", f"{where}: audio input is not supported")
    if kind == "file":
        raise _bad(f"{where}.type", f"{where}: file input is not supported")
    raise _bad(f"{where}.type", f"{where}.type must be 'text' or 'image_url'")


def _decode_image(img: object, where: str) -> ImagePart:
    if not isinstance(img, dict):
        raise _bad(where, f"{where} must be an object with a url")
    url = img.get("url")
    if not isinstance(url, str) or not url:
        raise _bad(f"{where}.url", f"{where}.url must be a non-empty string")
    detail = img.get("detail")
    if detail is not None and not isinstance(detail, str):
        raise _bad(f"{where}.detail", f"{where}.detail must be a string")
    if url.startswith("data:"):
        # data:<media type>;base64,<data> -- anything else stays a URL for the provider to judge
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if sep and encoding == "base64" and media_type:
            return ImagePart(data=data, media_type=media_type, detail=detail)
    return ImagePart(url=url, detail=detail)


def _decode_text_content(content: object, param: str) -> list[TextPart]:
    """Content that may only hold text: system, developer and tool messages."""
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise _bad(param, f"{param} must be a string or an array of text parts")
    parts: list[TextPart] = []
    for j, p in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(p, dict) or p.get("type") != "text":
            raise _bad(where, f"{where} must be a text part")
        text = p.get("text")
        if not isinstance(text, str):
            raise _bad(f"{where}.text", f"{where}.text must be a string")
        parts.append(TextPart(text, _cache_control(p, where)))
    return parts


def _cache_control(part: dict[str, Any], where: str) -> dict[str, Any] | None:
    """A caching breakpoint some OpenAI clients put on text parts, for Anthropic upstreams."""
    marker = part.get("cache_control")
    if marker is not None and not isinstance(marker, dict):
        raise _bad(f"{where}.cache_control", f"{where}.cache_control must be an object")
    return marker


def _decode_assistant(m: dict[str, Any], where: str) -> Message:
    if m.get("function_call") is not None:
        raise _bad(
            f"{where}.function_call",
            f"{where}.function_call is deprecated and not supported; use tool_calls",
        )
    if m.get("audio") is not None:
        raise _bad(f"{where}.audio", f"{where}.audio is not supported")
    raw_calls = m.get("tool_calls")
    calls = _decode_tool_calls(raw_calls, f"{where}.tool_calls") if raw_calls is not None else []
    content = m.get("content")
    param = f"{where}.content"
    parts: list[Part] = []
    if content is None:
        if not calls:
            raise _bad(param, f"{param} is required unless tool_calls are given")
    elif isinstance(content, str):
        if content or not calls:
            parts.append(TextPart(content))
    elif isinstance(content, list):
        for j, p in enumerate(content):
            # An assistant part is text or a refusal; a refusal is replayed as text.
            kind = p.get("type") if isinstance(p, dict) else None
            key = "refusal" if kind == "refusal" else "text"
            text = p.get(key) if isinstance(p, dict) and kind in ("text", "refusal") else None
            if not isinstance(text, str):
                raise _bad(f"{param}[{j}]", f"{param}[{j}] must be a text or refusal part")
            parts.append(TextPart(text))
    else:
        raise _bad(param, f"{param} must be a string, null or an array of text parts")
    return Message(role="assistant", content=parts, tool_calls=calls, name=_decode_name(m, where))


def _decode_tool_calls(raw: object, param: str) -> list[ToolCall]:
    if not isinstance(raw, list):
        raise _bad(param, f"{param} must be an array")
    calls: list[ToolCall] = []
    for k, tc in enumerate(raw):
        where = f"{param}[{k}]"
        if not isinstance(tc, dict):
            raise _bad(where, f"{where} must be an object")
        if tc.get("type", "function") != "function":
            raise _bad(f"{where}.type", f"{where}.type must be 'function'")
        call_id = tc.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{where}.id", f"{where}.id must be a non-empty string")
        fn = tc.get("function")
        if not isinstance(fn, dict):
            raise _bad(f"{where}.function", f"{where}.function must be an object")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"{where}.function.name", f"{where}.function.name must be a string")
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            raise _bad(
                f"{where}.function.arguments", f"{where}.function.arguments must be a JSON string"
            )
        calls.append(ToolCall(id=call_id, name=name, arguments=args))
    return calls


def _decode_tool_result(m: dict[str, Any], where: str) -> Message:
    call_id = m.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _bad(f"{where}.tool_call_id", f"{where}.tool_call_id is required for a tool message")
    content: list[Part] = list(_decode_text_content(m.get("content"), f"{where}.content"))
    return Message(role="tool", content=content, tool_call_id=call_id)


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise _bad(key, f"{key} must be a number between {lo:g} and {hi:g}")
    return float(v)


def _integer(body: dict[str, Any], key: str, lo: int | None) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo):
        bound = "" if lo is None else f" of at least {lo}"
        raise _bad(key, f"{key} must be an integer{bound}")
    return v


def _decode_sampling(body: dict[str, Any], req: ChatRequest) -> None:
    req.temperature = _number(body, "temperature", 0, 2)
    req.top_p = _number(body, "top_p", 0, 1)
    req.presence_penalty = _number(body, "presence_penalty", -2, 2)
    req.frequency_penalty = _number(body, "frequency_penalty", -2, 2)
    req.top_k = _integer(body, "top_k", 1)  # not OpenAI's, but OpenAI-compatible servers take it
    req.n = _integer(body, "n", 1)
    req.seed = _integer(body, "seed", None)
    # max_completion_tokens supersedes max_tokens; an SDK may send either.
    limit = _integer(body, "max_completion_tokens", 1)
    req.max_tokens = limit if limit is not None else _integer(body, "max_tokens", 1)
    stop = body.get("stop")
    if isinstance(stop, str):
        req.stop = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        req.stop = stop
    elif stop is not None:
        raise _bad("stop", "stop must be a string or an array of strings")


def _decode_tools(raw: object) -> list[Tool]:
    if not isinstance(raw, list):
        raise _bad("tools", "tools must be an array")
    tools: list[Tool] = []
    for i, t in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(t, dict):
            raise _bad(where, f"{where} must be an object")
        if t.get("type") != "function":
            raise _bad(f"{where}.type", f"{where}.type must be 'function'")
        fn = t.get("function")
        if not isinstance(fn, dict):
            raise _bad(f"{where}.function", f"{where}.function must be an object")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"{where}.function.name", f"{where}.function.name must be a string")
        desc = fn.get("description")
        if desc is not None and not isinstance(desc, str):
            raise _bad(
                f"{where}.function.description", f"{where}.function.description must be a string"
            )
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise _bad(
                f"{where}.function.parameters", f"{where}.function.parameters must be an object"
            )
        strict = fn.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise _bad(f"{where}.function.strict", f"{where}.function.strict must be a boolean")
        tools.append(Tool(name=name, description=desc, parameters=params or {}, strict=strict))
    return tools


def _decode_tool_choice(raw: object, parallel: object) -> ToolChoice | None:
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("parallel_tool_calls", "parallel_tool_calls must be a boolean")
    if raw is None:
        return None if parallel is None else ToolChoice(parallel=parallel)
    if isinstance(raw, str) and raw in _TOOL_CHOICE_MODES:
        return ToolChoice(mode=raw, parallel=parallel)  # type: ignore[arg-type]
    if isinstance(raw, dict) and raw.get("type") == "function":
        fn = raw.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise _bad("tool_choice.function.name", "tool_choice.function.name must be a string")
        return ToolChoice(mode="tool", name=name, parallel=parallel)
    raise _bad(
        "tool_choice",
        "tool_choice must be 'none', 'auto', 'required' or {type: function, function: {name}}",
    )


def _decode_response_format(raw: object) -> ResponseFormat:
    if not isinstance(raw, dict):
        raise _bad("response_format", "response_format must be an object")
    kind = raw.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(type=kind)
    if kind != "json_schema":
        raise _bad(
            "response_format.type",
            "response_format.type must be 'text', 'json_object' or 'json_schema'",
        )
    spec = raw.get("json_schema")
    if not isinstance(spec, dict):
        raise _bad("response_format.json_schema", "response_format.json_schema must be an object")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(
            "response_format.json_schema.name", "response_format.json_schema.name must be a string"
        )
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise _bad(
            "response_format.json_schema.schema",
            "response_format.json_schema.schema must be an object",
        )
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _bad(
            "response_format.json_schema.strict",
            "response_format.json_schema.strict must be a boolean",
        )
    return ResponseFormat(type="json_schema", name=name, schema=schema, strict=strict)


def _decode_stream_options(raw: object) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, dict):
        raise _bad("stream_options", "stream_options must be an object")
    include = raw.get("include_usage", False)
    if not isinstance(include, bool):
        raise _bad("stream_options.include_usage", "stream_options.include_usage must be a boolean")
    return include
