"""Anthropic Messages: encoding a canonical ``ChatRequest`` for an Anthropic provider.

Part of the Anthropic codec; import the public names from ``lockgate.wire.anthropic``, whose
docstring lists the canonical fields this encoder drops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lockgate.errors import InvalidRequest
from lockgate.wire.anthropic_response import tool_input
from lockgate.wire.reasoning import EFFORT_BUDGETS, MIN_ANTHROPIC_BUDGET, budget_of, output_limit
from lockgate.wire.types import (
    ChatRequest,
    ImagePart,
    Message,
    Part,
    Reasoning,
    TextPart,
    ThinkingPart,
    ToolChoice,
)


@dataclass(slots=True)
class _Turn:
    role: str
    results: list[dict[str, Any]] = field(default_factory=list)  # tool_result blocks
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def content(self) -> str | list[dict[str, Any]]:
        blocks = self.results + self.blocks
        if not blocks:
            return ""
        if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
            return str(blocks[0]["text"])  # the plain form is what clients usually send
        return blocks


def _image(part: ImagePart, param: str) -> dict[str, Any]:
    if part.data is not None:
        source = {"type": "base64", "media_type": part.media_type or "image/png", "data": part.data}
    elif part.url is not None and part.url.startswith("data:"):
        # OpenAI clients inline images as data URLs; Anthropic wants them as base64 sources.
        header, _, data = part.url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if encoding != "base64" or not data:
            raise InvalidRequest(f"{param}: only base64 data URLs are supported", param=param)
        source = {"type": "base64", "media_type": media_type or "image/png", "data": data}
    elif part.url is not None:
        source = {"type": "url", "url": part.url}
    else:
        raise InvalidRequest(f"{param}: an image needs a url or data", param=param)
    out: dict[str, Any] = {"type": "image", "source": source}  # no `detail` in Anthropic
    if part.cache_control is not None:
        out["cache_control"] = part.cache_control
    return out


def _text(part: TextPart) -> dict[str, Any]:
    if part.cache_control is None:
        return {"type": "text", "text": part.text}
    return {"type": "text", "text": part.text, "cache_control": part.cache_control}


def _thinking(part: ThinkingPart) -> dict[str, Any]:
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}


def _parts(parts: list[Part], param: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        if isinstance(part, TextPart):
            if part.text:  # Anthropic rejects empty text blocks
                out.append(_text(part))
        else:
            out.append(_image(part, f"{param}.content.{j}"))
    return out


def _tool_result(msg: Message, param: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": msg.tool_call_id or ""}
    content = _parts(msg.content, param)
    if content:
        block["content"] = content
    if msg.is_error:
        block["is_error"] = True
    if msg.cache_control is not None:
        block["cache_control"] = msg.cache_control
    return block


def _assistant(msg: Message, param: str) -> list[dict[str, Any]]:
    # Thinking comes first, as the model wrote it, with its signature.
    blocks = [_thinking(t) for t in msg.thinking]
    blocks.extend(_parts(msg.content, param))
    for j, call in enumerate(msg.tool_calls):
        args = tool_input(call.arguments)
        if args is None:
            where = f"{param}.tool_calls.{j}.arguments"
            raise InvalidRequest(f"{where}: not a JSON object", param=where)
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": args})
    return blocks


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Anthropic needs strict user/assistant alternation and tool results inside user turns,
    with the results first, so same-role neighbours are merged into one turn."""
    turns: list[_Turn] = []
    for i, msg in enumerate(messages):
        param = f"messages.{i}"
        role = "assistant" if msg.role == "assistant" else "user"
        if not turns or turns[-1].role != role:
            turns.append(_Turn(role))
        turn = turns[-1]
        if msg.role == "tool":
            turn.results.append(_tool_result(msg, param))
        elif msg.role == "assistant":
            turn.blocks.extend(_assistant(msg, param))
        else:
            turn.blocks.extend(_parts(msg.content, param))
    return [{"role": t.role, "content": t.content()} for t in turns]


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    kind = {"auto": "auto", "required": "any", "tool": "tool", "none": "none"}[choice.mode]
    out: dict[str, Any] = {"type": kind}
    if choice.mode == "tool":
        out["name"] = choice.name or ""
    if choice.parallel is False and choice.mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _tools_and_context(req: ChatRequest, model: str) -> dict[str, Any]:
    """The fields shared by message and count_tokens requests."""
    body: dict[str, Any] = {"model": model, "messages": _messages(req.messages)}
    system = [_text(p) for p in req.system if p.text]
    if system:
        body["system"] = system
    if req.tools:
        tools: list[dict[str, Any]] = []
        for t in req.tools:
            tool: dict[str, Any] = {
                "name": t.name,
                "input_schema": t.parameters or {"type": "object"},
            }
            if t.description is not None:
                tool["description"] = t.description
            if t.strict is not None:
                tool["strict"] = t.strict
            if t.cache_control is not None:
                tool["cache_control"] = t.cache_control
            tools.append(tool)
        body["tools"] = tools
        # Anthropic rejects tool_choice without tools, so it is only sent alongside them.
        if req.tool_choice is not None:
            body["tool_choice"] = _tool_choice(req.tool_choice)
    return body


def encode_chat_request(
    req: ChatRequest, *, model: str, default_max_tokens: int = 4096
) -> dict[str, Any]:
    """The body of ``POST /v1/messages``; only fields that are set are sent."""
    if req.n is not None and req.n > 1:
        raise InvalidRequest("n > 1 is not supported by Anthropic models", param="n")
    body = _tools_and_context(req, model)
    body["max_tokens"] = req.max_tokens or default_max_tokens
    if req.reasoning is not None and not thinking_blocked(req):
        _encode_thinking(req.reasoning, req.max_tokens, default_max_tokens, body)
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.top_k is not None:
        body["top_k"] = req.top_k
    if req.user is not None:
        body["metadata"] = {"user_id": req.user}
    if req.stream:
        body["stream"] = True
    return body


def _encode_thinking(
    r: Reasoning, max_tokens: int | None, default: int, body: dict[str, Any]
) -> None:
    """``thinking`` from the canonical reasoning (``lockgate.wire.reasoning``)."""
    if not r.enabled:
        body["thinking"] = {"type": "disabled"}
        return
    if r.adaptive:
        body["thinking"] = {"type": "adaptive"}
        return
    budget = budget_of(r)
    if budget is None:
        return
    budget = max(budget, MIN_ANTHROPIC_BUDGET)
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    body["max_tokens"] = output_limit(max_tokens, budget, default)


def _unmapped_effort(req: ChatRequest) -> bool:
    r = req.reasoning
    return r is not None and r.effort is not None and r.effort not in EFFORT_BUDGETS


def thinking_blocked(req: ChatRequest) -> bool:
    """With thinking on, Anthropic requires the last assistant turn that called tools to start
    with its thinking block. A client that cannot send those back (an OpenAI client in a tool
    loop) gets that turn without thinking, rather than a 400 it cannot fix."""
    r = req.reasoning
    if r is None or not r.enabled:
        return False
    for msg in reversed(req.messages):
        if msg.role == "assistant":
            return bool(msg.tool_calls) and not msg.thinking
    return False


def dropped_params(req: ChatRequest) -> list[str]:
    """Canonical fields set on ``req`` that an Anthropic request does not carry (see the
    table in ``lockgate.wire.anthropic``)."""
    out: list[str] = []
    if thinking_blocked(req):
        assert req.reasoning is not None
        out.append("reasoning_effort" if req.reasoning.effort is not None else "thinking")
    if _unmapped_effort(req):
        out.append("reasoning_effort")
    if req.seed is not None:
        out.append("seed")
    if req.presence_penalty is not None:
        out.append("presence_penalty")
    if req.frequency_penalty is not None:
        out.append("frequency_penalty")
    if req.response_format is not None and req.response_format.type != "text":
        out.append("response_format")
    if req.metadata:
        out.append("metadata")
    return out


def encode_count_tokens_request(req: ChatRequest, *, model: str) -> dict[str, Any]:
    """The body of ``POST /v1/messages/count_tokens``: the prompt, system and tools only."""
    return _tools_and_context(req, model)
