"""The offline tokenizer and the chat accounting built on it."""

from __future__ import annotations

from lockgate.usage.tokenizer import count, encoding
from lockgate.usage.tokens import estimate_request, fill_reasoning
from lockgate.wire.types import ChatRequest, Message, TextPart, Tool, Usage


def test_o200k_counts_known_texts() -> None:
    assert encoding().name == "o200k_base"
    assert count("hello world") == 2
    assert count("") == 0
    # special-token text is ordinary text here, never refused
    assert count("<|endoftext|>") > 1


def test_chat_accounting_follows_the_openai_formula() -> None:
    one = ChatRequest(model="m", messages=[Message("user", [TextPart("hello world")])])
    assert estimate_request(one) == 3 + 3 + 2
    two = ChatRequest(
        model="m",
        system=[TextPart("hello world")],
        messages=[Message("user", [TextPart("hello world")], name="bob")],
    )
    assert estimate_request(two) == 3 + (3 + 2) + (3 + 2 + 1 + count("bob"))


def test_tools_are_counted() -> None:
    plain = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])])
    tool = Tool(name="lookup", description="Find a thing", parameters={"type": "object"})
    with_tool = ChatRequest(model="m", messages=plain.messages, tools=[tool])
    assert estimate_request(with_tool) > estimate_request(plain) + 5


def test_fill_reasoning_counts_thinking_within_the_output() -> None:
    usage = Usage(input_tokens=10, output_tokens=50)
    fill_reasoning(usage, "Let me think about the weather in Paris first.")
    assert 0 < usage.reasoning_tokens <= 50
    capped = Usage(input_tokens=1, output_tokens=2)
    fill_reasoning(capped, "a long chain of thought " * 20)
    assert capped.reasoning_tokens == 2  # never more than the output it is part of
    reported = Usage(input_tokens=1, output_tokens=9, reasoning_tokens=4)
    fill_reasoning(reported, "text")
    assert reported.reasoning_tokens == 4  # a provider's own count wins
