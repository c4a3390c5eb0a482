"""Circuit breakers on one process (state: memory): the state machine, its events, and the
router routing around an open breaker. Virtual clock throughout."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from routing_helpers import (
    REQUEST,
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

from lockgate.config.models import CircuitBreakerConfig, RetryConfig
from lockgate.errors import (
    NoDeploymentAvailable,
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from lockgate.routing.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, BreakerBook
from lockgate.routing.router import Router
from lockgate.runtime import ModelRoute, Target
from lockgate.wire.types import ChatRequest, Message, TextPart

CFG = CircuitBreakerConfig(window=10, min_requests=4, error_rate=0.5, open_for=30, probes=2)


class Events:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        self.sent.append((event, data))

    @property
    def names(self) -> list[str]:
        return [e for e, _ in self.sent]


# --- the state machine -------------------------------------------------------------------------


def test_opens_only_past_min_requests_and_error_rate() -> None:
    b = Breaker("m", "p/x", CFG)
    assert b.record(0.0, False, False) is None  # 1 of 1 failed, but min_requests is 4
    assert b.record(0.1, True, False) is None
    assert b.record(0.2, True, False) is None
    t = b.record(0.3, False, False)  # 2 of 4 failed: error_rate 0.5 reached
    assert t is not None and t.state is OPEN and b.state is OPEN
    assert (t.requests, t.failures, t.open_for) == (4, 2, 30)
    assert "2 of 4 attempts failed within 10 s" in t.reason


def test_old_failures_leave_the_window() -> None:
    b = Breaker("m", "p/x", CFG)
    for i in range(3):
        b.record(float(i), False, False)
    # 11 s later those three are out of the 10 s window: one more failure is 1 of 1.
    assert b.record(14.0, False, False) is None
    assert b.state is CLOSED


def test_open_half_open_probes_close() -> None:
    b = Breaker("m", "p/x", CFG)
    for i in range(4):
        b.record(float(i), False, False)
    assert b.state is OPEN
    assert not b.allows(20.0)
    assert b.allows(33.0) and b.state is HALF_OPEN
    assert b.acquire() is True
    assert b.allows(33.0) and b.acquire() is True
    assert not b.allows(33.0)  # two probes out: no more until they report
    assert b.record(34.0, True, True) is None
    t = b.record(34.5, True, True)
    assert t is not None and t.state is CLOSED and b.state is CLOSED
    assert "2 half-open probe(s) succeeded" in t.reason


def test_a_failed_probe_opens_again_for_open_for() -> None:
    b = Breaker("m", "p/x", CFG)
    for i in range(4):
        b.record(float(i), False, False)
    assert b.allows(40.0)
    probe = b.acquire()
    t = b.record(41.0, False, probe)
    assert t is not None and t.state is OPEN and t.reason == "a half-open probe failed"
    assert not b.allows(70.0) and b.allows(71.0)


def test_an_abandoned_probe_frees_its_slot_without_a_verdict() -> None:
    b = Breaker("m", "p/x", CFG)
    for i in range(4):
        b.record(float(i), False, False)
    assert b.allows(40.0)
    p1, p2 = b.acquire(), b.acquire()
    assert not b.allows(40.0)
    assert b.record(40.5, None, p1) is None
    assert b.allows(40.5) and b.state is HALF_OPEN
    assert b.record(40.6, True, p2) is None


def test_late_outcomes_of_attempts_started_before_opening_are_ignored() -> None:
    b = Breaker("m", "p/x", CFG)
    for i in range(4):
        b.record(float(i), False, False)
    assert b.record(5.0, True, False) is None and b.state is OPEN
    assert b.allows(34.0)  # half-open
    assert b.record(34.5, False, False) is None and b.state is HALF_OPEN  # not a probe


def test_book_announces_transitions_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    book = BreakerBook()
    events = Events()
    book.emit = events
    b = book.get("m", "p/x", CFG)
    with caplog.at_level(logging.WARNING, logger="lockgate.routing"):
        for i in range(4):
            book.record(b, float(i), False, False)
        assert book.not_closed == {("m", "p/x")}
        assert book.allows(b, 40.0)
        for _ in range(2):
            book.record(b, 41.0, True, b.acquire())
    assert events.names == ["circuit.open", "circuit.close"]
    opened = events.sent[0][1]
    assert opened["model"] == "m" and opened["deployment"] == "p/x" and opened["state"] == "open"
    assert opened["requests"] == 4 and opened["failures"] == 4
    assert book.not_closed == set()
    text = caplog.text
    assert "circuit breaker opened: model m, deployment p/x, for 30 s" in text
    assert "circuit breaker closed: model m, deployment p/x" in text


def test_a_reload_with_a_new_window_starts_a_fresh_count() -> None:
    book = BreakerBook()
    b = book.get("m", "p/x", CFG)
    for i in range(3):
        book.record(b, float(i), False, False)
    wider = CircuitBreakerConfig(window=60, min_requests=4, error_rate=0.5, open_for=30)
    assert book.get("m", "p/x", wider) is b
    book.record(b, 3.0, False, False)
    assert b.state is CLOSED  # 1 of 1 in the new window


# --- the router with breakers ------------------------------------------------------------------


def pair(
    clock: Clock, dead_script: list[BaseException], **kw: Any
) -> tuple[FakeProvider, FakeProvider, ModelRoute]:
    dead = FakeProvider("dead", dead_script, clock=clock)
    alive = FakeProvider("alive", clock=clock)
    r = route(
        "m",
        target(dead),
        target(alive),
        routing="round-robin",
        breaker=CFG,
        retry=RetryConfig(attempts=1, backoff=0.01),
        **kw,
    )
    return dead, alive, r


async def test_a_dead_deployment_is_routed_around_then_left_alone() -> None:
    clock = Clock()
    dead, _alive, r = pair(clock, [UpstreamConnectError("refused")] * 100)
    router = make_router(Sleeps(clock), clock=clock)
    events = Events()
    router.breakers.emit = events
    for _ in range(40):  # zero client-visible errors: every failure is retried on the other
        ctx = context(r)
        resp = await router.run(ctx, r, attempt)
        assert resp.id.startswith("alive")
        clock.advance(0.1)
    # round-robin sends every other first attempt to the dead one until the breaker opens
    # (4 attempts, all failed), then none.
    assert len(dead.calls) == 4
    assert events.names == ["circuit.open"]
    assert router.breakers.find("m", "dead/up").state is OPEN  # type: ignore[union-attr]


async def test_breaker_half_opens_and_closes_when_the_deployment_is_back() -> None:
    clock = Clock()
    dead, _alive, r = pair(clock, [UpstreamTimeout("slow")] * 4)
    router = make_router(Sleeps(clock), clock=clock)
    events = Events()
    router.breakers.emit = events
    for _ in range(10):
        await router.run(context(r), r, attempt)
    assert len(dead.calls) == 4
    clock.advance(CFG.open_for + 1)
    for _ in range(10):
        await router.run(context(r), r, attempt)
    assert events.names == ["circuit.open", "circuit.close"]
    assert len(dead.calls) > 4  # probes, then its round-robin share again
    assert router.breakers.not_closed == set()


async def test_every_deployment_open_falls_back() -> None:
    clock = Clock()
    a = FakeProvider("a", [status(503)] * 4, clock=clock)
    backup = FakeProvider("backup", clock=clock)
    one = CircuitBreakerConfig(window=10, min_requests=2, error_rate=0.5, open_for=30)
    r = route("m", target(a), breaker=one, retry=RetryConfig(attempts=0), fallbacks=("b",))
    b = route("b", target(backup))
    router = make_router(Sleeps(clock), clock=clock)
    for _ in range(2):
        await router.run(context(r, b), r, attempt)  # a fails, the fallback serves
    assert len(a.calls) == 2
    ctx = context(r, b)
    resp = await router.run(ctx, r, attempt)  # open: a is not even tried
    assert resp.id.startswith("backup") and len(a.calls) == 2
    assert ctx.routing is not None
    assert "m a/up: skipped (circuit breaker open)" in ctx.routing.summary()
    assert ctx.response_headers[-2:] == [
        (b"x-lockgate-model", b"b"),
        (b"x-lockgate-fallback", b"true"),
    ]


async def test_every_deployment_open_without_fallback_is_503_naming_the_model() -> None:
    clock = Clock()
    a = FakeProvider("a", [status(503)] * 2, clock=clock)
    b = FakeProvider("b", [status(502)] * 2, clock=clock)
    one = CircuitBreakerConfig(window=10, min_requests=1, error_rate=0.5, open_for=30)
    r = route("m", target(a), target(b), breaker=one, retry=RetryConfig(attempts=1))
    router = make_router(Sleeps(clock), clock=clock)
    with pytest.raises(Exception):  # noqa: B017 - both fail: the last upstream error
        await router.run(context(r), r, attempt)
    with pytest.raises(NoDeploymentAvailable) as info:
        await router.run(context(r), r, attempt)
    err = info.value
    assert err.http_status == 503
    assert "model 'm'" in err.message and "circuit breaker open" in err.message
    assert len(a.calls) + len(b.calls) == 2


async def test_client_errors_do_not_count_against_the_deployment() -> None:
    clock = Clock()
    p = FakeProvider("p", [status(400)] * 10, clock=clock)
    one = CircuitBreakerConfig(window=10, min_requests=2, error_rate=0.5, open_for=30)
    r = route("m", target(p), breaker=one)
    router = make_router(Sleeps(clock), clock=clock)
    for _ in range(10):
        with pytest.raises(Exception):  # noqa: B017
            await router.run(context(r), r, attempt)
    assert router.breakers.not_closed == set()


async def test_a_cancelled_attempt_is_neither_success_nor_failure() -> None:
    clock = Clock()
    gate = asyncio.Event()

    class Hanging(FakeProvider):
        async def chat(self, req: ChatRequest, model: str, timeouts: Any) -> Any:
            await gate.wait()
            return await super().chat(req, model, timeouts)

    p = Hanging("p", clock=clock)
    r = route("m", target(p), breaker=CFG)
    router = make_router(Sleeps(clock), clock=clock)
    task = asyncio.ensure_future(router.run(context(r), r, attempt))
    await asyncio.sleep(0)
    assert router.balancer.stats["p/up"].in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.balancer.stats["p/up"].in_flight == 0
    assert router.breakers.find("m", "p/up").window.totals(clock()) == (0, 0)  # type: ignore[union-attr]


# --- streams -----------------------------------------------------------------------------------


def stream_context(r: ModelRoute) -> Any:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], stream=True)
    return context(r, request=req)


async def open_stream(t: Target, r: ModelRoute) -> Any:
    return await t.provider.open_stream(REQUEST, t.model, r.timeouts)  # type: ignore[attr-defined]


async def test_a_stream_breaking_after_its_first_token_counts_as_a_failure() -> None:
    clock = Clock()
    p = FakeProvider("p", clock=clock)
    one = CircuitBreakerConfig(window=10, min_requests=2, error_rate=0.5, open_for=30)
    r = route("m", target(p), breaker=one)
    router = make_router(Sleeps(clock), clock=clock)
    for _ in range(2):
        ctx = stream_context(r)
        await router.run(ctx, r, open_stream)
        assert router.balancer.stats["p/up"].in_flight == 1  # open until the stream ends
        ctx.failed(UpstreamProtocolError("provider 'p' stream failed: cut short"))
        router.stream_ended(ctx)
        assert router.balancer.stats["p/up"].in_flight == 0
        router.stream_ended(ctx)  # idempotent
    assert router.breakers.find("m", "p/up").state is OPEN  # type: ignore[union-attr]
    assert ctx.routing is not None and "stream failed" in ctx.routing.summary()


async def test_streams_that_finish_or_are_abandoned_are_no_failures() -> None:
    clock = Clock()
    p = FakeProvider("p", clock=clock)
    one = CircuitBreakerConfig(window=10, min_requests=1, error_rate=0.5, open_for=30)
    r = route("m", target(p), breaker=one)
    router = make_router(Sleeps(clock), clock=clock)
    done = stream_context(r)
    await router.run(done, r, open_stream)
    router.stream_ended(done)
    gone = stream_context(r)
    await router.run(gone, r, open_stream)
    gone.client_disconnected = True
    router.stream_ended(gone)
    breaker = router.breakers.find("m", "p/up")
    assert breaker is not None and breaker.window.totals(clock()) == (1, 0)
    assert router.balancer.stats["p/up"].in_flight == 0


async def test_a_stream_failing_before_its_first_token_is_retried() -> None:
    clock = Clock()
    p = FakeProvider("p", [UpstreamTimeout("no token within first_token")], clock=clock)
    r = route("m", target(p), breaker=CFG)
    router = Router(sleep=Sleeps(clock), clock=clock, wall=clock)
    ctx = stream_context(r)
    await router.run(ctx, r, open_stream)
    assert ctx.attempts == 2 and len(p.calls) == 2
    router.stream_ended(ctx)
    assert router.breakers.find("m", "p/up").window.totals(clock()) == (2, 1)  # type: ignore[union-attr]
