"""Anthropic Messages: decoding a client's request into the canonical ``ChatRequest``.

Part of the Anthropic codec; import the public names from ``lockgate.wire.anthropic``.
Validation is cheap (isinstance checks) and every error names the offending field in the
dotted form Anthropic uses, e.g. ``messages.1.content.0.type``.
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson

from lockgate.errors import InvalidRequest
from lockgate.wire.types import (
    ChatRequest,
    ImagePart,
    Message,
    Part,
    Reasoning,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)

_TOOL_CHOICES: dict[str, ToolChoiceMode] = {
    "auto": "auto",
    "any": "required",
    "tool": "tool",
    "none": "none",
}

# Known Anthropic block types that the canonical form cannot carry: refused by name rather
# than called unknown, so the client learns it is a gateway limitation.
_UNSUPPORTED_BLOCKS = frozenset(
    {"document", "search_result", "server_tool_use", "web_search_tool_result", "container_upload"}
)


def _fail(param: str, problem: str) -> NoReturn:
    raise InvalidRequest(f"{param}: {problem}", param=param)


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _expect_str(value: object, param: str) -> str:
    if not isinstance(value, str):
        _fail(param, f"expected a string, got {_type_name(value)}")
    return value


def _expect_dict(value: object, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(param, f"expected an object, got {_type_name(value)}")
    return value


def _expect_list(value: object, param: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(param, f"expected an array, got {_type_name(value)}")
    return value


def _opt_int(body: dict[str, Any], key: str, minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(key, f"expected an integer, got {_type_name(value)}")
    if value < minimum:
        _fail(key, f"must be at least {minimum}")
    return value


def _opt_float(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        _fail(key, f"expected a number, got {_type_name(value)}")
    if value < 0:
        _fail(key, "must not be negative")
    return float(value)


# --- content blocks -----------------------------------------------------------------------------


def _text_block(block: dict[str, Any], param: str) -> TextPart:
    return TextPart(_expect_str(block.get("text"), f"{param}.text"), _cache_control(block, param))


def _cache_control(block: dict[str, Any], param: str) -> dict[str, Any] | None:
    marker = block.get("cache_control")
    return None if marker is None else _expect_dict(marker, f"{param}.cache_control")


def _thinking_block(block: dict[str, Any], param: str) -> ThinkingPart:
    if block.get("type") == "redacted_thinking":
        return ThinkingPart(redacted=_expect_str(block.get("data"), f"{param}.data"))
    signature = block.get("signature")
    return ThinkingPart(
        text=_expect_str(block.get("thinking"), f"{param}.thinking"),
        signature=None if signature is None else _expect_str(signature, f"{param}.signature"),
    )


def _image_block(block: dict[str, Any], param: str) -> ImagePart:
    source = _expect_dict(block.get("source"), f"{param}.source")
    kind = source.get("type")
    marker = _cache_control(block, param)
    if kind == "base64":
        return ImagePart(
            data=_expect_str(source.get("data"), f"{param}.source.data"),
            media_type=_expect_str(source.get("media_type"), f"{param}.source.media_type"),
            cache_control=marker,
        )
    if kind == "url":
        return ImagePart(
            url=_expect_str(source.get("url"), f"{param}.source.url"), cache_control=marker
        )
    _fail(f"{param}.source.type", f"unsupported image source type {kind!r}")


def _tool_use_block(block: dict[str, Any], param: str) -> ToolCall:
    call_id = _expect_str(block.get("id"), f"{param}.id")
    name = _expect_str(block.get("name"), f"{param}.name")
    args = _expect_dict(block.get("input"), f"{param}.input")
    return ToolCall(id=call_id, name=name, arguments=orjson.dumps(args).decode())


def _tool_result_block(block: dict[str, Any], param: str) -> Message:
    call_id = _expect_str(block.get("tool_use_id"), f"{param}.tool_use_id")
    is_error = block.get("is_error", False)
    if not isinstance(is_error, bool):
        _fail(f"{param}.is_error", f"expected a boolean, got {_type_name(is_error)}")
    raw = block.get("content")
    parts: list[Part]
    if raw is None:
        parts = []
    elif isinstance(raw, str):
        parts = [TextPart(raw)]
    else:
        parts = []
        for j, item in enumerate(_expect_list(raw, f"{param}.content")):
            item_param = f"{param}.content.{j}"
            item = _expect_dict(item, item_param)
            kind = item.get("type")
            if kind == "text":
                parts.append(_text_block(item, item_param))
            elif kind == "image":
                parts.append(_image_block(item, item_param))
            else:
                _fail(f"{item_param}.type", f"unsupported tool_result content type {kind!r}")
    return Message(
        role="tool",
        content=parts,
        tool_call_id=call_id,
        is_error=is_error,
        cache_control=_cache_control(block, param),
    )


def _unknown_block(kind: object, param: str, role: str) -> NoReturn:
    if isinstance(kind, str) and kind in _UNSUPPORTED_BLOCKS:
        _fail(f"{param}.type", f"content block type {kind!r} is not supported by Lockgate")
    if kind in ("text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"):
        _fail(f"{param}.type", f"content block type {kind!r} is not allowed in a {role} turn")
    _fail(f"{param}.type", f"unknown content block type {kind!r}")


def _user_turn(blocks: list[Any], param: str) -> list[Message]:
    """A user turn's tool_result blocks become separate tool messages, in their original order
    relative to the user's own text and images."""
    out: list[Message] = []
    pending: list[Part] = []
    for i, block in enumerate(blocks):
        block_param = f"{param}.{i}"
        block = _expect_dict(block, block_param)
        kind = block.get("type")
        if kind == "text":
            pending.append(_text_block(block, block_param))
        elif kind == "image":
            pending.append(_image_block(block, block_param))
        elif kind == "tool_result":
            if pending:
                out.append(Message(role="user", content=pending))
                pending = []
            out.append(_tool_result_block(block, block_param))
        else:
            _unknown_block(kind, block_param, "user")
    if pending or not out:
        out.append(Message(role="user", content=pending))
    return out


def _assistant_turn(blocks: list[Any], param: str) -> Message:
    msg = Message(role="assistant")
    for i, block in enumerate(blocks):
        block_param = f"{param}.{i}"
        block = _expect_dict(block, block_param)
        kind = block.get("type")
        if kind == "text":
            msg.content.append(_text_block(block, block_param))
        elif kind == "tool_use":
            msg.tool_calls.append(_tool_use_block(block, block_param))
        elif kind in ("thinking", "redacted_thinking"):
            # Sent back to an Anthropic provider (a tool loop with thinking needs it); its
            # signature binds it to Anthropic, so other providers do not get it.
            msg.thinking.append(_thinking_block(block, block_param))
        else:
            _unknown_block(kind, block_param, "assistant")
    return msg


def _messages(raw: object) -> list[Message]:
    items = _expect_list(raw, "messages")
    if not items:
        _fail("messages", "at least one message is required")
    out: list[Message] = []
    for i, item in enumerate(items):
        param = f"messages.{i}"
        item = _expect_dict(item, param)
        role = item.get("role")
        if role not in ("user", "assistant"):
            _fail(f"{param}.role", f"must be 'user' or 'assistant', got {role!r}")
        content = item.get("content")
        if isinstance(content, str):
            out.append(Message(role=role, content=[TextPart(content)]))
            continue
        blocks = _expect_list(content, f"{param}.content")
        if role == "user":
            out.extend(_user_turn(blocks, f"{param}.content"))
        else:
            out.append(_assistant_turn(blocks, f"{param}.content"))
    return out


# --- top-level fields -------------------------------------------------------------------------


def _system(raw: object) -> list[TextPart]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [TextPart(raw)] if raw else []
    parts: list[TextPart] = []
    for i, block in enumerate(_expect_list(raw, "system")):
        block = _expect_dict(block, f"system.{i}")
        if block.get("type") != "text":
            _fail(f"system.{i}.type", f"expected 'text', got {block.get('type')!r}")
        parts.append(_text_block(block, f"system.{i}"))
    return parts


def _tools(raw: object) -> list[Tool]:
    if raw is None:
        return []
    tools: list[Tool] = []
    for i, item in enumerate(_expect_list(raw, "tools")):
        param = f"tools.{i}"
        item = _expect_dict(item, param)
        kind = item.get("type")
        if kind not in (None, "custom"):
            _fail(f"{param}.type", f"server tool {kind!r} is not supported by Lockgate")
        description = item.get("description")
        strict = item.get("strict")
        tools.append(
            Tool(
                name=_expect_str(item.get("name"), f"{param}.name"),
                description=None
                if description is None
                else _expect_str(description, f"{param}.description"),
                parameters=_expect_dict(item.get("input_schema"), f"{param}.input_schema"),
                strict=strict if isinstance(strict, bool) else None,
                cache_control=_cache_control(item, param),
            )
        )
    return tools


def _tool_choice(raw: object) -> ToolChoice | None:
    if raw is None:
        return None
    raw = _expect_dict(raw, "tool_choice")
    kind = raw.get("type")
    mode = _TOOL_CHOICES.get(kind) if isinstance(kind, str) else None
    if mode is None:
        _fail("tool_choice.type", f"must be auto, any, tool or none, got {kind!r}")
    name = None
    if mode == "tool":
        name = _expect_str(raw.get("name"), "tool_choice.name")
    disable = raw.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        _fail("tool_choice.disable_parallel_tool_use", "expected a boolean")
    parallel = None if disable is None else not disable
    return ToolChoice(mode=mode, name=name, parallel=parallel)


def _stop_sequences(raw: object) -> list[str]:
    if raw is None:
        return []
    items = _expect_list(raw, "stop_sequences")
    return [_expect_str(s, f"stop_sequences.{i}") for i, s in enumerate(items)]


def _user(raw: object) -> str | None:
    if raw is None:
        return None
    user_id = _expect_dict(raw, "metadata").get("user_id")
    return None if user_id is None else _expect_str(user_id, "metadata.user_id")


def _thinking(raw: object) -> Reasoning | None:
    if raw is None:
        return None
    raw = _expect_dict(raw, "thinking")
    kind = raw.get("type")
    if kind == "disabled":
        return Reasoning(enabled=False)
    if kind == "adaptive":
        return Reasoning(adaptive=True)
    if kind != "enabled":
        _fail("thinking.type", f"must be enabled, disabled or adaptive, got {kind!r}")
    budget = _opt_int(raw, "budget_tokens", 1)
    if budget is None:
        _fail("thinking.budget_tokens", "field required")
    return Reasoning(budget=budget)


_KNOWN = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "tools",
        "tool_choice",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "stream",
        "metadata",
        "thinking",
    }
)


def _decode(body: object, *, need_max_tokens: bool) -> ChatRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    if "model" not in body:
        _fail("model", "field required")
    model = _expect_str(body["model"], "model")
    if "messages" not in body:
        _fail("messages", "field required")
    if need_max_tokens and body.get("max_tokens") is None:
        _fail("max_tokens", "field required")
    stream = body.get("stream", False) if need_max_tokens else False
    if not isinstance(stream, bool):
        _fail("stream", f"expected a boolean, got {_type_name(stream)}")
    req = ChatRequest(
        model=model,
        messages=_messages(body["messages"]),
        system=_system(body.get("system")),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        stop=_stop_sequences(body.get("stop_sequences")),
        max_tokens=_opt_int(body, "max_tokens", 1) if need_max_tokens else None,
        temperature=_opt_float(body, "temperature"),
        top_p=_opt_float(body, "top_p"),
        top_k=_opt_int(body, "top_k", 0),
        stream=stream,
        include_usage=stream,  # Anthropic streams always report usage
        user=_user(body.get("metadata")),
        reasoning=_thinking(body.get("thinking")),
    )
    if not body.keys() <= _KNOWN:
        req.ignored = [k for k in body if k not in _KNOWN and body[k] is not None]
    return req


def decode_chat_request(body: object) -> ChatRequest:
    """``POST /v1/messages``. Unknown top-level fields are ignored."""
    return _decode(body, need_max_tokens=True)


def decode_count_tokens_request(body: object) -> ChatRequest:
    """``POST /v1/messages/count_tokens``: like a message request without ``max_tokens``."""
    return _decode(body, need_max_tokens=False)
