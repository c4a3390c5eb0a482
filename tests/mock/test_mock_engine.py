import json
import math

from lockgate.mock.engine import (
    Directives,
    FailCounter,
    count_tokens,
    embed,
    parse_directives,
    reply_for,
)


def test_text_reply_is_deterministic_and_echoes_eight_words() -> None:
    prompt = "one two three four five six seven eight nine ten"
    a = reply_for(prompt, tools=[], tool_choice_none=False, last_role="user", max_tokens=None)
    b = reply_for(prompt, tools=[], tool_choice_none=False, last_role="user", max_tokens=None)
    assert a == b
    assert a.text == "Mock reply to: one two three four five six seven eight"
    assert a.stop == "stop" and a.tool_call is None
    assert a.output_tokens == len(a.pieces) == 11
    assert "".join(a.pieces) == a.text


def test_max_tokens_truncates_with_length_stop() -> None:
    r = reply_for("hello world", tools=[], tool_choice_none=False, last_role="user", max_tokens=2)
    assert r.pieces == ("Mock", " reply") and r.stop == "length" and r.output_tokens == 2


def test_tool_call_when_tools_offered_to_a_user_turn() -> None:
    r = reply_for(
        "find cats [[mock:nousage]]",
        tools=["search", "other"],
        tool_choice_none=False,
        last_role="user",
        max_tokens=1,
    )
    assert r.stop == "tool_calls" and r.tool_call is not None
    assert r.tool_call.name == "search"
    assert json.loads(r.tool_call.arguments) == {"query": "find cats"}
    assert "".join(r.tool_call.fragments) == r.tool_call.arguments
    assert len(r.tool_call.fragments) > 1


def test_no_tool_call_when_choice_none_or_after_tool_result() -> None:
    none = reply_for(
        "x", tools=["search"], tool_choice_none=True, last_role="user", max_tokens=None
    )
    assert none.tool_call is None
    after = reply_for(
        '{"temp": 21}', tools=["search"], tool_choice_none=False, last_role="tool", max_tokens=None
    )
    assert after.tool_call is None and after.text == 'Tool result: {"temp": 21}'


def test_directives() -> None:
    assert parse_directives("plain text") == Directives()
    assert not parse_directives("plain").any
    d = parse_directives("a [[mock:status=503]] b [[mock:slow=250]] [[mock:nousage]]")
    assert d == Directives(status=503, slow_ms=250.0, nousage=True)
    assert parse_directives("[[mock:hang]][[mock:malformed]]") == Directives(
        hang=True, malformed=True
    )


def test_fail_counter_is_counter_based() -> None:
    quarter = FailCounter(0.25)
    assert [quarter.should_fail() for _ in range(8)] == [False, False, False, True] * 2
    tenth = FailCounter(0.1)
    assert sum(tenth.should_fail() for _ in range(100)) == 10
    always, never = FailCounter(1.0), FailCounter(0.0)
    assert all(always.should_fail() for _ in range(5))
    assert not any(never.should_fail() for _ in range(5))
    quarter.reset()
    assert [quarter.should_fail() for _ in range(4)] == [False, False, False, True]


def test_count_tokens() -> None:
    assert count_tokens("") == 0
    assert count_tokens("a") == 1
    assert count_tokens("abcd") == 1
    assert count_tokens("abcde") == 2


def test_embed_is_a_deterministic_unit_vector() -> None:
    v = embed("hello", 64)
    assert v == embed("hello", 64) and v != embed("hellO", 64)
    assert len(v) == 64
    assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-9)
    assert len(embed("", 3)) == 3
