"""Fallbacks obey the caller (plan, roles, residency, route kind), name the model that served,
and the context window: the prompt estimate or the provider's own error moves the request to a
fallback with a larger window, else 400 naming the window."""

from __future__ import annotations

import pytest
from routing_helpers import (
    Clock,
    FakeProvider,
    Sleeps,
    attempt,
    context,
    make_router,
    route,
    status,
    target,
)

from lockgate.config.models import RetryConfig
from lockgate.errors import InvalidRequest, PermissionDenied, UpstreamStatusError
from lockgate.usage.tokens import estimate_request
from lockgate.wire.types import ChatRequest, Message, TextPart

NO_RETRY = RetryConfig(attempts=0)


def failing(name: str = "p", region: str | None = None) -> FakeProvider:
    return FakeProvider(name, [status(503)] * 5, region=region)


async def test_a_fallback_outside_the_callers_plan_is_never_tried() -> None:
    secret = FakeProvider("s")
    r = route("m", target(failing()), retry=NO_RETRY, fallbacks=("premium",))
    ctx = context(r, route("premium", target(secret)), allowed={"m"})
    with pytest.raises(UpstreamStatusError):
        await make_router().run(ctx, r, attempt)
    assert secret.calls == []
    assert ctx.routing is not None
    assert "premium: skipped (not in the caller's plan or roles)" in ctx.routing.summary()


async def test_an_allowed_fallback_serves_and_the_response_says_so() -> None:
    backup = FakeProvider("b")
    r = route("m", target(failing()), retry=NO_RETRY, fallbacks=("premium", "cheap"))
    ctx = context(r, route("premium", target(FakeProvider("x"))), route("cheap", target(backup)))
    ctx.runtime.allowed_for = lambda principal: frozenset({"m", "cheap"})  # type: ignore[method-assign]
    await make_router().run(ctx, r, attempt)
    assert ctx.served_model == "cheap" and ctx.fallback
    assert (b"x-lockgate-model", b"cheap") in ctx.response_headers
    assert (b"x-lockgate-fallback", b"true") in ctx.response_headers


async def test_no_fallback_header_says_false() -> None:
    r = route("m", target(FakeProvider("p")))
    ctx = context(r)
    await make_router().run(ctx, r, attempt)
    assert ctx.response_headers == [(b"x-lockgate-model", b"m"), (b"x-lockgate-fallback", b"false")]
    assert ctx.routing is None  # nothing notable: no trace is kept


async def test_fallbacks_respect_residency() -> None:
    us = FakeProvider("us", region="us")
    eu = FakeProvider("eu", region="eu")
    r = route("m", target(failing("p", "eu")), retry=NO_RETRY, fallbacks=("us-only", "eu-too"))
    ctx = context(r, route("us-only", target(us)), route("eu-too", target(eu)), residency=("eu",))
    await make_router().run(ctx, r, attempt)
    assert us.calls == [] and ctx.served_by == "eu/up"


async def test_residency_403_when_no_model_in_the_chain_has_an_allowed_region() -> None:
    r = route("m", target(FakeProvider("us", region="us")), fallbacks=("x",))
    ctx = context(r, route("x", target(FakeProvider("x", region="us"))), residency=("eu",))
    with pytest.raises(PermissionDenied):
        await make_router().run(ctx, r, attempt)


async def test_a_kindless_fallback_serves_embeddings_a_chat_one_does_not() -> None:
    chat_only = FakeProvider("c")
    anything = FakeProvider("a")
    r = route("e", target(failing()), kind="embedding", retry=NO_RETRY, fallbacks=("c", "a"))
    ctx = context(
        r,
        route("c", target(chat_only), kind="chat"),
        route("a", target(anything), kind=None),
        kind="embeddings",
    )
    await make_router().run(ctx, r, attempt)
    assert chat_only.calls == [] and ctx.served_model == "a"


# --- context window ----------------------------------------------------------------------------


def long_request(words: int) -> ChatRequest:
    """A prompt of about ``words`` tokens (one per repeated word)."""
    return ChatRequest(model="m", messages=[Message("user", [TextPart("hello " * words)])])


async def test_a_prompt_over_the_window_goes_to_a_fallback_with_a_larger_window() -> None:
    small = FakeProvider("small")
    tiny = FakeProvider("tiny")
    big = FakeProvider("big")
    req = long_request(1000)
    r = route("m", target(small), context_window=500, fallbacks=("tiny", "big"))
    ctx = context(
        r,
        route("tiny", target(tiny), context_window=800),
        route("big", target(big), context_window=128_000),
        request=req,
    )
    await make_router().run(ctx, r, attempt)
    assert small.calls == [] and tiny.calls == [] and ctx.served_model == "big"
    assert ctx.prompt_estimate == estimate_request(req)  # computed once, kept for policies


async def test_a_prompt_over_every_window_is_400_naming_the_window() -> None:
    r = route("m", target(FakeProvider("p")), context_window=500, fallbacks=("f",))
    ctx = context(
        r, route("f", target(FakeProvider("f")), context_window=600), request=long_request(1000)
    )
    with pytest.raises(InvalidRequest) as info:
        await make_router().run(ctx, r, attempt)
    err = info.value
    assert err.http_status == 400 and err.code == "context_length_exceeded"
    assert "context window of model 'm' (500 tokens)" in err.message
    assert ctx.attempts == 0


async def test_a_policys_estimate_is_used_as_is() -> None:
    p = FakeProvider("p")
    r = route("m", target(p), context_window=100)
    ctx = context(r)
    ctx.prompt_estimate = 5000  # a policy counted it already
    with pytest.raises(InvalidRequest):
        await make_router().run(ctx, r, attempt)
    assert p.calls == []


def overflow() -> UpstreamStatusError:
    return UpstreamStatusError(
        400,
        "provider 'p' answered 400: prompt is too long: 9000 tokens > 8192 maximum",
        provider="p",
        context_overflow=True,
    )


async def test_the_providers_context_error_moves_to_a_larger_window() -> None:
    p = FakeProvider("p", [overflow()])
    same = FakeProvider("same")
    unknown = FakeProvider("unknown")
    big = FakeProvider("big")
    r = route("m", target(p), context_window=8192, fallbacks=("same", "unknown", "big"))
    ctx = context(
        r,
        route("same", target(same), context_window=8192),
        route("unknown", target(unknown)),
        route("big", target(big), context_window=200_000),
    )
    sleeps = Sleeps(Clock())
    await make_router(sleeps).run(ctx, r, attempt)
    assert len(p.calls) == 1 and sleeps.delays == []  # not retried
    assert same.calls == [] and unknown.calls == [] and ctx.served_model == "big"


async def test_the_providers_context_error_without_a_larger_fallback_is_400() -> None:
    p = FakeProvider("p", [overflow()])
    r = route("m", target(p), context_window=8192)
    ctx = context(r)
    with pytest.raises(InvalidRequest) as info:
        await make_router().run(ctx, r, attempt)
    assert info.value.code == "context_length_exceeded"
    assert "context window of model 'm' (8192 tokens)" in info.value.message
    assert "prompt is too long" in info.value.message


async def test_counting_tokens_needs_no_window() -> None:
    p = FakeProvider("p")
    r = route("m", target(p), context_window=10)
    ctx = context(r, request=long_request(1000), kind="count_tokens")
    await make_router().run(ctx, r, attempt)
    assert p.calls == ["up"]
