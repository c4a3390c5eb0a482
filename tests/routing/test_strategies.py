"""Balancing strategies and priority tiers: seeded distributions, no timing.

Latency is fed through the router on a virtual clock (a fake provider "takes" N seconds by
moving it), so least-latency sees exact numbers.
"""

from __future__ import annotations

import random
from collections import Counter

from routing_helpers import (
    Clock,
    FakeProvider,
    Sleeps,
    attempt,
    context,
    make_router,
    route,
    status,
)
from routing_helpers import target as make_target

from lockgate.config.models import CircuitBreakerConfig, Price, RetryConfig
from lockgate.routing.strategies import EXPLORE, Balancer
from lockgate.runtime import Target

N = 10_000


def targets(*specs: tuple[str, float, Price]) -> list[Target]:
    return [make_target(FakeProvider(name), weight=w, price=price) for name, w, price in specs]


def shares(picks: list[Target]) -> dict[str, float]:
    counts = Counter(t.key for t in picks)
    return {k: v / len(picks) for k, v in counts.items()}


def test_weighted_distribution_follows_the_weights() -> None:
    ts = targets(("a", 1.0, Price()), ("b", 3.0, Price()), ("c", 6.0, Price()))
    r = route("m", *ts)
    b = Balancer(random.Random(0))
    got = shares([b.pick(r, ts) for _ in range(N)])
    assert abs(got["a/up"] - 0.1) < 0.02
    assert abs(got["b/up"] - 0.3) < 0.03
    assert abs(got["c/up"] - 0.6) < 0.03


def test_weighted_never_picks_a_zero_weight_target() -> None:
    ts = targets(("a", 0.0, Price()), ("b", 1.0, Price()))
    r = route("m", *ts)
    b = Balancer(random.Random(1))
    assert {b.pick(r, ts).key for _ in range(1000)} == {"b/up"}


def test_round_robin_cycles_per_model() -> None:
    ts = targets(("a", 1.0, Price()), ("b", 1.0, Price()), ("c", 1.0, Price()))
    b = Balancer(random.Random(0))
    m = route("m", *ts, routing="round-robin")
    picks = [b.pick(m, ts).key for _ in range(7)]
    assert picks == ["a/up", "b/up", "c/up", "a/up", "b/up", "c/up", "a/up"]
    assert b.pick(route("other", *ts, routing="round-robin"), ts).key == "a/up"


def test_least_busy_prefers_fewer_in_flight_and_breaks_ties_by_weight() -> None:
    a, b_, c = targets(("a", 1.0, Price()), ("b", 1.0, Price()), ("c", 3.0, Price()))
    r = route("m", a, b_, c, routing="least-busy")
    b = Balancer(random.Random(0))
    b.stats_for(a.key).in_flight = 2
    b.stats_for(b_.key).in_flight = 0
    b.stats_for(c.key).in_flight = 0
    got = shares([b.pick(r, [a, b_, c]) for _ in range(N)])
    assert "a/up" not in got
    assert abs(got["c/up"] - 0.75) < 0.03  # b and c tie: 1:3 by weight
    b.stats_for(c.key).in_flight = 5
    assert {b.pick(r, [a, b_, c]).key for _ in range(100)} == {"b/up"}


def test_lowest_cost_picks_the_cheapest_and_breaks_ties_by_weight() -> None:
    ts = targets(
        ("a", 1.0, Price(input=0.2, output=10.0)),
        ("b", 1.0, Price(input=0.5, output=1.5)),
        ("c", 4.0, Price(input=1.0, output=1.0)),
        ("d", 1.0, Price(input=1.0, output=2.0)),
    )
    r = route("m", *ts, routing="lowest-cost")
    b = Balancer(random.Random(0))
    got = shares([b.pick(r, ts) for _ in range(N)])
    assert set(got) == {"b/up", "c/up"}  # both cost 2.0 per (input + output) token
    assert abs(got["c/up"] - 0.8) < 0.03


def test_least_latency_measures_unmeasured_first_then_prefers_the_fastest() -> None:
    a, b_ = targets(("a", 1.0, Price()), ("b", 1.0, Price()))
    r = route("m", a, b_, routing="least-latency")
    b = Balancer(random.Random(0))
    b.stats_for(a.key).succeeded(0.0, 0.2)
    picks = [b.pick(r, [a, b_]) for _ in range(N)]
    # b is unmeasured: every pick but the exploration share goes to it.
    assert abs(shares(picks)["b/up"] - (1 - EXPLORE / 2)) < 0.01
    b.stats_for(b_.key).succeeded(0.0, 0.5)
    got = shares([b.pick(r, [a, b_]) for _ in range(N)])
    assert abs(got["b/up"] - EXPLORE / 2) < 0.01  # explored, by weight, half the time


def test_least_latency_uses_time_to_first_token_for_streams() -> None:
    a, b_ = targets(("a", 1.0, Price()), ("b", 1.0, Price()))
    r = route("m", a, b_, routing="least-latency")
    b = Balancer(random.Random(3))
    for t, latency, ttft in ((a, 0.5, 0.05), (b_, 0.2, 0.3)):
        b.stats_for(t.key).succeeded(0.0, latency)
        b.stats_for(t.key).first_token(ttft)
    streamed = shares([b.pick(r, [a, b_], streaming=True) for _ in range(2000)])
    plain = shares([b.pick(r, [a, b_]) for _ in range(2000)])
    assert streamed["a/up"] > 0.9
    assert plain["b/up"] > 0.9


async def test_least_latency_routes_back_to_a_deployment_that_recovered() -> None:
    clock = Clock()
    slow = FakeProvider("slow", clock=clock, took=2.0)
    fast = FakeProvider("fast", clock=clock, took=0.1)
    r = route("m", make_target(slow), make_target(fast), routing="least-latency")
    router = make_router(Sleeps(clock), seed=7, clock=clock)
    for _ in range(200):
        await router.run(context(r), r, attempt)
    first = (len(slow.calls), len(fast.calls))
    assert first[0] < 0.1 * 200  # exploration only
    slow.took = 0.01  # it recovered: exploration measures it again, then it wins
    for _ in range(1000):  # ~14 explored samples bring its average under the other's
        await router.run(context(r), r, attempt)
    before = len(slow.calls)
    for _ in range(200):
        await router.run(context(r), r, attempt)
    assert len(slow.calls) - before > 0.9 * 200


async def test_router_tracks_in_flight_and_latency_of_successes_only() -> None:
    clock = Clock()
    bad = FakeProvider("bad", [status(503)], clock=clock, took=0.5)
    good = FakeProvider("good", clock=clock, took=0.25)
    r = route("m", make_target(bad), make_target(good), routing="round-robin")
    router = make_router(Sleeps(clock), clock=clock)
    ctx = context(r)
    await router.run(ctx, r, attempt)
    assert ctx.served_by == "good/up"
    stats = router.balancer.stats
    assert stats["bad/up"].in_flight == 0 and stats["good/up"].in_flight == 0
    assert stats["bad/up"].latency is None
    assert stats["good/up"].latency == 0.25


async def test_least_busy_routing_avoids_a_busy_deployment() -> None:
    busy = FakeProvider("busy")
    idle = FakeProvider("idle")
    r = route("m", make_target(busy), make_target(idle), routing="least-busy")
    router = make_router(Sleeps())
    router.balancer.stats_for("busy/up").in_flight = 1
    for _ in range(5):
        await router.run(context(r), r, attempt)
    assert busy.calls == []
    assert len(idle.calls) == 5


# --- priority tiers ----------------------------------------------------------------------------


async def test_tier_two_serves_only_while_tier_one_is_unavailable() -> None:
    clock = Clock()
    primary = FakeProvider("primary")
    spare = FakeProvider("spare")
    breaker = CircuitBreakerConfig(window=10, min_requests=2, error_rate=0.5, open_for=30)
    r = route(
        "m",
        make_target(primary, priority=1),
        make_target(spare, priority=2, weight=100.0),
        breaker=breaker,
        retry=RetryConfig(attempts=1, backoff=0.01),
    )
    router = make_router(Sleeps(clock), clock=clock)
    for _ in range(20):
        await router.run(context(r), r, attempt)
    assert (len(primary.calls), len(spare.calls)) == (20, 0)  # weight never crosses tiers
    # The primary fails: each request retries on the spare, then the breaker opens.
    clock.advance(11)  # a fresh breaker window
    primary.script = [status(503)] * 2
    for _ in range(2):
        await router.run(context(r), r, attempt)
    assert len(spare.calls) == 2
    for _ in range(5):
        await router.run(context(r), r, attempt)
    assert (len(primary.calls), len(spare.calls)) == (22, 7)
    clock.advance(31)  # half-open: the primary is tried (probes), closes, and serves again
    for _ in range(10):
        await router.run(context(r), r, attempt)
    assert (len(primary.calls), len(spare.calls)) == (32, 7)
