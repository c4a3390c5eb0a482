"""One deadline per request: ``timeout.total`` bounds retries and fallbacks together.

The fake providers "take" time by moving the virtual clock; what is asserted is the timeouts
each attempt was given and the sleeps the router asked for, never elapsed time.
"""

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
from lockgate.errors import UpstreamStatusError, UpstreamTimeout
from lockgate.upstream import Timeouts

T10 = Timeouts(connect=5.0, first_byte=8.0, idle=6.0, total=10.0)


async def test_total_bounds_the_whole_retry_chain() -> None:
    clock = Clock()
    p = FakeProvider("p", [status(503)] * 10, clock=clock, took=4.0)
    r = route("m", target(p), timeouts=T10, retry=RetryConfig(attempts=5, backoff=0.1))
    sleeps = Sleeps(clock)
    router = make_router(sleeps, clock=clock)
    ctx = context(r)
    with pytest.raises(UpstreamTimeout) as info:
        await router.run(ctx, r, attempt)
    assert info.value.http_status == 504
    assert "timeout.total (10 s) ran out after 3 attempt(s)" in info.value.message
    assert "HTTP 503" in info.value.message  # the last error is named
    first, second, third = p.timeouts
    assert first == T10  # the first attempt gets the route's own timeouts
    # Later attempts get what is left, every kind of timeout cut to it.
    assert second.total == pytest.approx(10.0 - 4.0 - sleeps.delays[0])
    assert third.total == pytest.approx(10.0 - 8.0 - sum(sleeps.delays))
    assert third.connect == third.first_byte == third.idle == third.total
    assert second.connect == 5.0  # below what is left: unchanged
    assert second.first_byte == second.idle == second.total  # above it: cut


async def test_a_backoff_past_the_deadline_is_not_slept() -> None:
    clock = Clock()
    p = FakeProvider("p", [status(503)] * 3, clock=clock)
    r = route(
        "m",
        target(p),
        timeouts=Timeouts(total=1.0),
        retry=RetryConfig(attempts=3, backoff=2.0, max_backoff=4.0),
    )
    sleeps = Sleeps(clock)
    with pytest.raises(UpstreamStatusError) as info:
        await make_router(sleeps, clock=clock).run(context(r), r, attempt)
    assert info.value.upstream_status == 503  # the model gave up with its last error
    assert sleeps.delays == []
    assert len(p.calls) == 1


async def test_retry_after_past_the_deadline_is_not_waited_for() -> None:
    clock = Clock()
    p = FakeProvider("p", [status(429, retry_after=30.0)], clock=clock)
    r = route(
        "m",
        target(p),
        timeouts=Timeouts(total=5.0),
        retry=RetryConfig(attempts=2, backoff=0.1, max_backoff=60.0),
    )
    sleeps = Sleeps(clock)
    with pytest.raises(UpstreamStatusError):
        await make_router(sleeps, clock=clock).run(context(r), r, attempt)
    assert sleeps.delays == [] and len(p.calls) == 1


async def test_a_fallback_gets_only_the_time_that_is_left() -> None:
    clock = Clock()
    p = FakeProvider("p", [status(503)], clock=clock, took=7.0)
    backup = FakeProvider("b", clock=clock)
    r = route("m", target(p), timeouts=T10, retry=RetryConfig(attempts=0), fallbacks=("b",))
    b = route("b", target(backup), timeouts=Timeouts(total=60.0, first_byte=30.0))
    ctx = context(r, b)
    await make_router(Sleeps(clock), clock=clock).run(ctx, r, attempt)
    [seen] = backup.timeouts
    assert seen.total == pytest.approx(3.0)
    assert seen.first_byte == pytest.approx(3.0)
    assert ctx.served_model == "b"


async def test_no_fallback_once_the_deadline_passed() -> None:
    clock = Clock()
    p = FakeProvider("p", [UpstreamTimeout("no first byte")], clock=clock, took=10.0)
    backup = FakeProvider("b", clock=clock)
    r = route("m", target(p), timeouts=T10, retry=RetryConfig(attempts=0), fallbacks=("b",))
    ctx = context(r, route("b", target(backup)))
    with pytest.raises(UpstreamTimeout) as info:
        await make_router(Sleeps(clock), clock=clock).run(ctx, r, attempt)
    assert backup.calls == []
    assert "timeout.total (10 s)" in info.value.message


async def test_retry_after_is_honoured_on_the_same_deployment_within_the_deadline() -> None:
    clock = Clock()
    p = FakeProvider("p", [status(429, retry_after=3.0)], clock=clock)
    r = route("m", target(p), retry=RetryConfig(attempts=1, backoff=0.1, max_backoff=10.0))
    sleeps = Sleeps(clock)
    await make_router(sleeps, clock=clock).run(context(r), r, attempt)
    [delay] = sleeps.delays
    assert 3.0 <= delay <= 10.0
