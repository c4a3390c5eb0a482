"""Output guards on a stream, at the chunk-hook level: every split point of the text gives the
whole text's redaction, tool-call arguments are checked whole, a schema holds the text."""

from __future__ import annotations

import pytest

from lockgate.config.models import GuardConfig
from lockgate.errors import ContentPolicyViolation, ResponseFormatViolation
from lockgate.guards.output import OutputState, check_response
from lockgate.guards.spec import compile_guard
from lockgate.pipeline.context import RequestContext
from lockgate.wire.types import (
    ChatResponse,
    Chunk,
    ResponseFormat,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallDelta,
    ToolCallStart,
)

TEXT = "Reach carol@example.org or +1 415-555-2671, card 4111 1111 1111 1111."
WANT = "Reach [REDACTED:EMAIL] or [REDACTED:PHONE], card [REDACTED:CREDIT_CARD]."


def ctx() -> RequestContext:
    return RequestContext("r", "chat", "openai", [], "127.0.0.1", None, 0.0)  # type: ignore[arg-type]


def guard(**settings: object) -> OutputState:
    g = compile_guard("p", GuardConfig.model_validate({"on": ["output"], **settings}))
    return OutputState((g,), None)


def run(state: OutputState, c: RequestContext, chunks: list[Chunk]) -> list[Chunk]:
    out: list[Chunk] = []
    for chunk in chunks:
        out.extend(state.chunk(c, chunk))
    return out


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


def test_every_split_point_of_a_stream() -> None:
    for i in range(len(TEXT) + 1):
        c = ctx()
        state = guard(type="pii", action="redact")
        parts = [StreamStart("s", "m"), TextDelta(TEXT[:i]), TextDelta(TEXT[i:]), StreamEnd()]
        out = run(state, c, parts)
        assert text_of(out) == WANT, i
        assert isinstance(out[0], StreamStart) and isinstance(out[-1], StreamEnd)
        state.record(c)
        [d] = c.guard_decisions
        assert dict(d.entities) == {"EMAIL": 1, "PHONE": 1, "CREDIT_CARD": 1}


def test_tool_call_arguments_are_checked_whole() -> None:
    state = guard(type="pii", action="redact", entities=["email"])
    out = run(
        state,
        ctx(),
        [
            ToolCallStart(0, "c1", "send"),
            ToolCallDelta(0, '{"to": "bob@exa'),
            ToolCallDelta(0, 'mple.com"}'),
            StreamEnd(stop_reason="tool_calls"),
        ],
    )
    args = "".join(c.arguments for c in out if isinstance(c, ToolCallDelta))
    assert args == '{"to": "[REDACTED:EMAIL]"}'


def test_a_block_raises_before_the_match_is_released() -> None:
    state = guard(type="deny", patterns=[r"(?i)project\s+falcon"])
    c = ctx()
    released = run(state, c, [TextDelta("About Project "), TextDelta("Fal")])
    assert "Project" not in text_of(released)
    with pytest.raises(ContentPolicyViolation):
        state.chunk(c, TextDelta("con now"))


def test_a_schema_holds_the_stream_and_checks_it_at_the_end() -> None:
    fmt = ResponseFormat(type="json_object")
    g = compile_guard("p", GuardConfig.model_validate({"type": "schema"}))
    ok = OutputState((g,), fmt)
    out = run(ok, ctx(), [TextDelta('{"a":'), TextDelta(" 1}")])
    assert out == []
    assert text_of(ok.chunk(ctx(), StreamEnd())) == '{"a": 1}'
    bad = OutputState((g,), fmt)
    run(bad, ctx(), [TextDelta("not json")])
    with pytest.raises(ResponseFormatViolation):
        bad.chunk(ctx(), StreamEnd())


def test_reasoning_is_output_too_and_is_scanned_whole() -> None:
    state = guard(type="pii", action="redact", entities=["email"])
    out = run(
        state,
        ctx(),
        [
            ThinkingDelta("mail bob@exa"),
            ThinkingDelta("mple.com later"),
            ThinkingDelta(signature="sig"),
            ThinkingDelta(redacted="opaque"),  # encrypted: nothing to scan
            ThinkingDelta("unsigned reasoning of carol@example.org"),  # released at the end
            TextDelta("done"),
            StreamEnd(),
        ],
    )
    thoughts = [c for c in out if isinstance(c, ThinkingDelta)]
    assert thoughts[0] == ThinkingDelta("mail [REDACTED:EMAIL] later", signature="sig")
    assert thoughts[1] == ThinkingDelta(redacted="opaque")
    assert thoughts[2].text == "unsigned reasoning of [REDACTED:EMAIL]"
    assert "example" not in repr(out)


async def test_reasoning_in_a_complete_response_is_scanned() -> None:
    state = guard(type="pii", action="redact", entities=["email"])
    resp = ChatResponse(
        id="r",
        model="m",
        content=[TextPart("ok")],
        thinking=[ThinkingPart("ask bob@example.com", "sig"), ThinkingPart(redacted="x")],
    )
    out = await check_response(ctx(), state, resp)
    assert out.thinking == [
        ThinkingPart("ask [REDACTED:EMAIL]", "sig"),
        ThinkingPart(redacted="x"),
    ]
