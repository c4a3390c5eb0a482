"""Reasoning mapped across formats, both ways, with the max_tokens adjustments."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.errors import InvalidRequest
from lockgate.wire import anthropic, gemini, openai
from lockgate.wire.reasoning import EFFORT_BUDGETS, budget_of, effort_of, output_limit
from lockgate.wire.types import ChatRequest, Message, Reasoning, TextPart, ThinkingPart


def _req(reasoning: Reasoning | None, max_tokens: int | None = None) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=[Message("user", [TextPart("hi")])],
        max_tokens=max_tokens,
        reasoning=reasoning,
    )


@pytest.mark.parametrize(
    ("effort", "budget"), [("minimal", 1024), ("low", 2048), ("medium", 8192), ("high", 24576)]
)
def test_every_effort_has_a_budget_and_maps_back(effort: str, budget: int) -> None:
    assert budget_of(Reasoning(effort=effort)) == budget == EFFORT_BUDGETS[effort]
    back = effort_of(Reasoning(budget=budget))
    assert back == ("low" if effort == "minimal" else effort)  # o-series reject minimal


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "low"), (2048, "low"), (2049, "medium"), (8192, "medium"),
                           (8193, "high"), (64000, "high")]
)  # fmt: skip
def test_budgets_map_to_efforts(budget: int, effort: str) -> None:
    assert effort_of(Reasoning(budget=budget)) == effort


def test_off_and_adaptive_have_no_budget_or_effort() -> None:
    for r in (Reasoning(enabled=False), Reasoning(adaptive=True)):
        assert budget_of(r) is None and effort_of(r) is None


def test_output_limit_leaves_room_for_the_answer() -> None:
    assert output_limit(30000, 8192, 4096) == 30000  # already room
    assert output_limit(500, 8192, 4096) == 8692  # budget + the client's limit
    assert output_limit(None, 8192, 4096) == 12288  # provider default + budget


# --- OpenAI ingress <-> canonical <-> OpenAI provider -----------------------------------------


def _openai(**extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [
            {"role": "user", "content": "hi"},
        ],
        **extra,
    }


def test_openai_reasoning_effort_is_decoded_and_re_encoded() -> None:
    req = openai.decode_chat_request(_openai(reasoning_effort="medium"))
    assert req.reasoning == Reasoning(effort="medium")
    assert openai.encode_chat_request(req, model="o4")["reasoning_effort"] == "medium"
    off = openai.decode_chat_request(_openai(reasoning_effort="none"))
    assert off.reasoning == Reasoning(enabled=False)
    assert "reasoning_effort" not in openai.encode_chat_request(off, model="o4")
    with pytest.raises(InvalidRequest) as err:
        openai.decode_chat_request(_openai(reasoning_effort=3))
    assert err.value.param == "reasoning_effort"
    # A level newer than the table reaches OpenAI; other providers name it as dropped.
    newer = openai.decode_chat_request(_openai(reasoning_effort="xhigh"))
    assert openai.encode_chat_request(newer, model="o9")["reasoning_effort"] == "xhigh"
    assert "thinking" not in anthropic.encode_chat_request(newer, model="c")
    assert anthropic.dropped_params(newer) == ["reasoning_effort"]
    assert gemini.dropped_params(newer) == ["reasoning_effort"]


def test_openai_effort_to_anthropic_thinking_with_max_tokens_adjusted() -> None:
    req = openai.decode_chat_request(_openai(reasoning_effort="high", max_completion_tokens=1000))
    body = anthropic.encode_chat_request(req, model="claude")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert body["max_tokens"] == 25576
    roomy = openai.decode_chat_request(_openai(reasoning_effort="low", max_tokens=50000))
    assert anthropic.encode_chat_request(roomy, model="c")["max_tokens"] == 50000
    default = anthropic.encode_chat_request(_req(Reasoning(effort="low")), model="c")
    assert default["max_tokens"] == 4096 + 2048


def test_openai_effort_to_gemini_thinking_config() -> None:
    req = openai.decode_chat_request(_openai(reasoning_effort="low", max_tokens=100))
    config = gemini.encode_chat_request(req)["generationConfig"]
    assert config == {"maxOutputTokens": 2148, "thinkingConfig": {"thinkingBudget": 2048}}
    off = gemini.encode_chat_request(_req(Reasoning(enabled=False)))["generationConfig"]
    assert off == {"thinkingConfig": {"thinkingBudget": 0}}
    dynamic = gemini.encode_chat_request(_req(Reasoning(adaptive=True)))["generationConfig"]
    assert dynamic == {"thinkingConfig": {"thinkingBudget": -1}}


# --- Anthropic ingress -> every provider --------------------------------------------------------


def _anthropic(thinking: object) -> dict[str, Any]:
    return {
        "model": "c",
        "max_tokens": 16000,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": thinking,
    }


def test_anthropic_thinking_round_trips_and_maps_to_openai() -> None:
    req = anthropic.decode_chat_request(_anthropic({"type": "enabled", "budget_tokens": 5000}))
    assert req.reasoning == Reasoning(budget=5000)
    body = anthropic.encode_chat_request(req, model="claude")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 5000}
    assert body["max_tokens"] == 16000
    assert openai.encode_chat_request(req, model="o4")["reasoning_effort"] == "medium"
    config = gemini.encode_chat_request(req)["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 5000}


def test_anthropic_disabled_and_adaptive() -> None:
    off = anthropic.decode_chat_request(_anthropic({"type": "disabled"}))
    assert anthropic.encode_chat_request(off, model="c")["thinking"] == {"type": "disabled"}
    assert "reasoning_effort" not in openai.encode_chat_request(off, model="o4")
    auto = anthropic.decode_chat_request(_anthropic({"type": "adaptive"}))
    assert anthropic.encode_chat_request(auto, model="c")["thinking"] == {"type": "adaptive"}
    assert openai.dropped_params(auto) == ["thinking"]  # nothing to say it with


@pytest.mark.parametrize(
    ("thinking", "param"),
    [
        ({"type": "enabled"}, "thinking.budget_tokens"),
        ({"type": "sometimes"}, "thinking.type"),
        ("on", "thinking"),
    ],
)
def test_anthropic_thinking_is_validated(thinking: object, param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        anthropic.decode_chat_request(_anthropic(thinking))
    assert err.value.param == param


def test_a_small_budget_is_raised_to_anthropics_minimum() -> None:
    body = anthropic.encode_chat_request(_req(Reasoning(budget=100), 4000), model="c")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_a_tool_turn_without_its_thinking_goes_without_thinking() -> None:
    """Anthropic rejects thinking when the last assistant turn called a tool without its
    thinking block (an OpenAI client cannot send one): that request goes without it."""
    body = _openai(reasoning_effort="medium")
    body["messages"] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]  # fmt: skip
    req = openai.decode_chat_request(body)
    assert "thinking" not in anthropic.encode_chat_request(req, model="c")
    assert anthropic.dropped_params(req) == ["reasoning_effort"]
    # With the block (an Anthropic client's tool loop), thinking stays on.
    req.messages[1].thinking.append(ThinkingPart("t", "sig"))
    assert anthropic.encode_chat_request(req, model="c")["thinking"]["budget_tokens"] == 8192
    assert anthropic.dropped_params(req) == []
