"""Router: retries, backoff, fallbacks, residency and deployment balancing, without a network.

Targets carry fake providers that record their calls and raise scripted errors; the router's
sleep is a recorder, so backoff delays are asserted as values, never waited for.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import ClassVar, cast

import pytest

from lockgate.config.models import Price, RetryConfig
from lockgate.errors import (
    GatewayError,
    InvalidRequest,
    PermissionDenied,
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from lockgate.pipeline.context import RequestContext
from lockgate.providers.base import Provider
from lockgate.routing.balance import Balancer
from lockgate.routing.router import Router
from lockgate.runtime import ModelRoute, Runtime, Target
from lockgate.upstream import Timeouts
from lockgate.wire.types import ChatRequest, ChatResponse, Message, TextPart

REQUEST = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])])

Outcome = BaseException | None  # None: answer successfully


class FakeProvider:
    """Answers ``chat`` with scripted outcomes, in order, then successes; records every call."""

    kind: ClassVar[str] = "fake"

    def __init__(self, name: str, script: Iterable[Outcome] = (), region: str | None = None):
        self.name = name
        self.region = region
        self.script = list(script)
        self.calls: list[str] = []

    async def chat(self, req: ChatRequest, model: str, timeouts: Timeouts) -> ChatResponse:
        self.calls.append(model)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return ChatResponse(id=f"{self.name}-{len(self.calls)}", model=model)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def status(code: int, retry_after: float | None = None) -> UpstreamStatusError:
    return UpstreamStatusError(code, f"HTTP {code}", provider="p", retry_after=retry_after)


def target(
    provider: FakeProvider,
    model: str = "up",
    *,
    weight: float = 1.0,
    region: str | None = None,
    price: Price | None = None,
) -> Target:
    return Target(
        key=f"{provider.name}/{model}",
        provider=cast(Provider, provider),
        model=model,
        weight=weight,
        region=region if region is not None else provider.region,
        price=price or Price(),
    )


def route(
    name: str,
    *targets: Target,
    kind: str = "chat",
    routing: str = "weighted",
    retry: RetryConfig | None = None,
    fallbacks: tuple[str, ...] = (),
) -> ModelRoute:
    retry = retry or RetryConfig(attempts=2, backoff=0.25, max_backoff=4.0)
    return ModelRoute(
        name=name,
        kind=kind,
        targets=targets,
        routing=routing,
        price=Price(),
        retry=retry,
        retry_on=frozenset(retry.on),
        timeouts=Timeouts(),
        fallbacks=fallbacks,
        default_max_tokens=4096,
    )


def context(*routes: ModelRoute, residency: tuple[str, ...] | None = None) -> RequestContext:
    runtime = cast(Runtime, SimpleNamespace(models={r.name: r for r in routes}))
    principal = None if residency is None else SimpleNamespace(residency=residency)
    return RequestContext(
        request_id="req-1",
        route="chat",
        ingress="openai",
        headers=[],
        client_ip="127.0.0.1",
        runtime=runtime,
        started=0.0,
        principal=principal,
        model=routes[0].name,
        chat=REQUEST,
    )


async def attempt(t: Target, r: ModelRoute) -> ChatResponse:
    return await t.provider.chat(REQUEST, t.model, r.timeouts)


def make_router(sleeps: Sleeps, seed: int = 0) -> Router:
    return Router(sleep=sleeps, balancer=Balancer(random.Random(seed)))


# --- attempts and retries ----------------------------------------------------------------------


async def test_success_on_first_try() -> None:
    p = FakeProvider("p")
    sleeps = Sleeps()
    ctx = context(route("chat-model", target(p, "gpt")))
    resp = await make_router(sleeps).run(ctx, ctx.runtime.models["chat-model"], attempt)
    assert resp.id == "p-1"
    assert p.calls == ["gpt"]
    assert sleeps.delays == []
    assert ctx.attempts == 1
    assert ctx.served_by == "p/gpt"


async def test_retryable_status_is_retried_with_exponential_jittered_backoff() -> None:
    p = FakeProvider("p", [status(503), status(502), status(500), status(504)])
    sleeps = Sleeps()
    r = route("m", target(p), retry=RetryConfig(attempts=4, backoff=1.0, max_backoff=100.0))
    ctx = context(r)
    resp = await make_router(sleeps).run(ctx, r, attempt)
    assert resp.id == "p-5"
    assert len(p.calls) == 5
    assert ctx.attempts == 5
    assert ctx.served_by == "p/up"
    assert len(sleeps.delays) == 4
    # backoff * 2**n, scaled by a jitter factor in [0.5, 1).
    factors = [d / 2**n for n, d in enumerate(sleeps.delays)]
    assert all(0.5 <= f < 1.0 for f in factors), sleeps.delays
    assert len(set(factors)) > 1  # jittered, not a fixed fraction


async def test_backoff_is_capped_by_max_backoff() -> None:
    p = FakeProvider("p", [status(500)] * 5)
    sleeps = Sleeps()
    r = route("m", target(p), retry=RetryConfig(attempts=5, backoff=1.0, max_backoff=1.5))
    ctx = context(r)
    await make_router(sleeps).run(ctx, r, attempt)
    assert len(sleeps.delays) == 5
    assert all(d <= 1.5 for d in sleeps.delays)
    # From the second retry on, the uncapped delay (2, 4, 8...) is above the cap.
    assert all(d >= 0.75 for d in sleeps.delays[1:])


async def test_retry_after_is_a_floor_for_the_delay() -> None:
    p = FakeProvider("p", [status(429, retry_after=3.0)])
    sleeps = Sleeps()
    r = route("m", target(p), retry=RetryConfig(attempts=1, backoff=0.1, max_backoff=10.0))
    ctx = context(r)
    await make_router(sleeps).run(ctx, r, attempt)
    [delay] = sleeps.delays
    assert 3.0 <= delay <= 10.0


async def test_retry_after_never_exceeds_max_backoff() -> None:
    p = FakeProvider("p", [status(503, retry_after=60.0)])
    sleeps = Sleeps()
    r = route("m", target(p), retry=RetryConfig(attempts=1, backoff=0.1, max_backoff=5.0))
    ctx = context(r)
    await make_router(sleeps).run(ctx, r, attempt)
    assert sleeps.delays == [5.0]


async def test_non_retryable_status_is_raised_at_once_without_fallback() -> None:
    err = status(400)
    p = FakeProvider("p", [err])
    backup = FakeProvider("b")
    sleeps = Sleeps()
    r = route("m", target(p), fallbacks=("backup",))
    ctx = context(r, route("backup", target(backup)))
    with pytest.raises(UpstreamStatusError) as info:
        await make_router(sleeps).run(ctx, r, attempt)
    assert info.value is err
    assert info.value.http_status == 400
    assert len(p.calls) == 1
    assert backup.calls == []
    assert sleeps.delays == []
    assert ctx.attempts == 1


@pytest.mark.parametrize(
    "error",
    [UpstreamConnectError("connection refused"), UpstreamTimeout("no first byte in 30s")],
    ids=["connect", "timeout"],
)
async def test_connect_errors_and_timeouts_are_retried(error: GatewayError) -> None:
    p = FakeProvider("p", [error])
    sleeps = Sleeps()
    r = route("m", target(p))
    ctx = context(r)
    resp = await make_router(sleeps).run(ctx, r, attempt)
    assert resp.id == "p-2"
    assert len(p.calls) == 2
    assert len(sleeps.delays) == 1
    assert ctx.attempts == 2


async def test_invalid_request_is_never_retried_nor_falls_back() -> None:
    p = FakeProvider("p", [InvalidRequest("messages: bad", param="messages")])
    backup = FakeProvider("b")
    sleeps = Sleeps()
    r = route("m", target(p), fallbacks=("backup",))
    ctx = context(r, route("backup", target(backup)))
    with pytest.raises(InvalidRequest):
        await make_router(sleeps).run(ctx, r, attempt)
    assert len(p.calls) == 1
    assert backup.calls == []
    assert sleeps.delays == []


async def test_status_outside_retry_on_is_not_retried_but_falls_back() -> None:
    p = FakeProvider("p", [status(503)])
    backup = FakeProvider("b")
    sleeps = Sleeps()
    only_429 = RetryConfig(attempts=3, on=[429])
    r = route("m", target(p), retry=only_429, fallbacks=("backup",))
    ctx = context(r, route("backup", target(backup)))
    resp = await make_router(sleeps).run(ctx, r, attempt)
    assert resp.id == "b-1"
    assert len(p.calls) == 1
    assert sleeps.delays == []


async def test_a_retry_prefers_a_deployment_not_yet_tried() -> None:
    for seed in range(20):
        providers = [FakeProvider(n, [status(503)]) for n in ("a", "b", "c")]
        r = route("m", *(target(p) for p in providers), retry=RetryConfig(attempts=2))
        ctx = context(r)
        with pytest.raises(UpstreamStatusError):
            await make_router(Sleeps(), seed).run(ctx, r, attempt)
        # Three attempts, each on a different deployment: every one tried once, none twice.
        assert [len(p.calls) for p in providers] == [1, 1, 1], seed
        assert ctx.attempts == 3


async def test_retries_reuse_deployments_once_all_were_tried() -> None:
    a = FakeProvider("a", [status(503)] * 3)
    b = FakeProvider("b", [status(503)] * 3)
    r = route("m", target(a), target(b), routing="round-robin", retry=RetryConfig(attempts=3))
    ctx = context(r)
    with pytest.raises(UpstreamStatusError):
        await make_router(Sleeps()).run(ctx, r, attempt)
    assert len(a.calls) + len(b.calls) == 4
    assert len(a.calls) >= 1
    assert len(b.calls) >= 1


# --- fallbacks ---------------------------------------------------------------------------------


async def test_exhausted_attempts_fall_back_to_the_next_model() -> None:
    p = FakeProvider("p", [status(503)] * 2)
    backup = FakeProvider("b")
    sleeps = Sleeps()
    r = route("m", target(p, "big"), retry=RetryConfig(attempts=1), fallbacks=("backup",))
    ctx = context(r, route("backup", target(backup, "small")))
    resp = await make_router(sleeps).run(ctx, r, attempt)
    assert resp.id == "b-1"
    assert p.calls == ["big", "big"]
    assert backup.calls == ["small"]
    assert ctx.attempts == 3
    assert ctx.served_by == "b/small"
    assert len(sleeps.delays) == 1  # between the primary's attempts, none before a fallback


async def test_the_last_error_is_raised_when_every_model_failed() -> None:
    last = status(502)
    p = FakeProvider("p", [status(503)])
    backup = FakeProvider("b", [last])
    r = route("m", target(p), retry=RetryConfig(attempts=0), fallbacks=("backup",))
    backup_route = route("backup", target(backup), retry=RetryConfig(attempts=0))
    ctx = context(r, backup_route)
    with pytest.raises(UpstreamStatusError) as info:
        await make_router(Sleeps()).run(ctx, r, attempt)
    assert info.value is last
    assert ctx.attempts == 2


async def test_fallback_chain_skips_other_kinds_unknown_names_and_repeats() -> None:
    p = FakeProvider("p", [status(503)])
    embed = FakeProvider("e")
    backup = FakeProvider("b")
    r = route(
        "m",
        target(p),
        retry=RetryConfig(attempts=0),
        fallbacks=("no-such-model", "embedder", "m", "backup", "backup"),
    )
    embedder = route("embedder", target(embed), kind="embedding")
    ctx = context(r, embedder, route("backup", target(backup)))
    router = make_router(Sleeps())
    assert [x.name for x in router.chain(ctx, r)] == ["m", "backup"]
    resp = await router.run(ctx, r, attempt)
    assert resp.id == "b-1"
    assert embed.calls == []


# --- residency ---------------------------------------------------------------------------------


async def test_residency_uses_only_targets_in_allowed_regions() -> None:
    us = FakeProvider("us", region="us")
    eu = FakeProvider("eu", region="eu")
    r = route("m", target(us), target(eu), routing="round-robin")
    router = make_router(Sleeps())
    for _ in range(6):
        ctx = context(r, residency=("eu",))
        await router.run(ctx, r, attempt)
        assert ctx.served_by == "eu/up"
    assert us.calls == []
    assert len(eu.calls) == 6


async def test_residency_retries_stay_in_allowed_regions() -> None:
    us = FakeProvider("us", region="us")
    eu = FakeProvider("eu", [status(503)], region="eu")
    r = route("m", target(us), target(eu))
    ctx = context(r, residency=("eu",))
    await make_router(Sleeps()).run(ctx, r, attempt)
    assert us.calls == []
    assert len(eu.calls) == 2


async def test_residency_falls_back_to_a_model_with_an_allowed_region() -> None:
    us = FakeProvider("us", region="us")
    eu = FakeProvider("eu", region="eu")
    r = route("m", target(us), fallbacks=("eu-model",))
    ctx = context(r, route("eu-model", target(eu)), residency=("eu",))
    await make_router(Sleeps()).run(ctx, r, attempt)
    assert us.calls == []
    assert ctx.served_by == "eu/up"


async def test_deployment_region_overrides_provider_region() -> None:
    p = FakeProvider("p", region="us")
    r = route("m", target(p, "a"), target(p, "b", region="eu"))
    ctx = context(r, residency=("eu",))
    await make_router(Sleeps()).run(ctx, r, attempt)
    assert p.calls == ["b"]


async def test_no_allowed_region_anywhere_in_the_chain_is_403() -> None:
    us = FakeProvider("us", region="us")
    unknown = FakeProvider("x")  # no region: never eligible under a residency rule
    r = route("m", target(us), fallbacks=("other",))
    ctx = context(r, route("other", target(unknown)), residency=("eu", "ch"))
    with pytest.raises(PermissionDenied) as info:
        await make_router(Sleeps()).run(ctx, r, attempt)
    assert info.value.http_status == 403
    assert "residency" in info.value.message
    assert "eu" in info.value.message
    assert us.calls == []
    assert unknown.calls == []
    assert ctx.attempts == 0


async def test_no_residency_rule_uses_every_region() -> None:
    us = FakeProvider("us", region="us")
    eu = FakeProvider("eu", region="eu")
    r = route("m", target(us), target(eu), routing="round-robin")
    router = make_router(Sleeps())
    for residency in (None, ()):
        for _ in range(2):
            await router.run(context(r, residency=residency), r, attempt)
    assert len(us.calls) == 2
    assert len(eu.calls) == 2


# --- balancing ---------------------------------------------------------------------------------


def _targets(*specs: tuple[str, float, Price]) -> list[Target]:
    return [target(FakeProvider(name), weight=w, price=price) for name, w, price in specs]


def test_weighted_distribution_follows_the_weights() -> None:
    targets = _targets(("a", 1.0, Price()), ("b", 3.0, Price()), ("c", 6.0, Price()))
    balancer = Balancer(random.Random(0))
    counts = Counter(balancer.pick("weighted", "m", targets).key for _ in range(10_000))
    assert abs(counts["a/up"] / 10_000 - 0.1) < 0.02
    assert abs(counts["b/up"] / 10_000 - 0.3) < 0.03
    assert abs(counts["c/up"] / 10_000 - 0.6) < 0.03


def test_weighted_never_picks_a_zero_weight_target() -> None:
    targets = _targets(("a", 0.0, Price()), ("b", 1.0, Price()))
    balancer = Balancer(random.Random(1))
    assert {balancer.pick("weighted", "m", targets).key for _ in range(1000)} == {"b/up"}


def test_round_robin_cycles_per_model() -> None:
    targets = _targets(("a", 1.0, Price()), ("b", 1.0, Price()), ("c", 1.0, Price()))
    balancer = Balancer(random.Random(0))
    picks = [balancer.pick("round-robin", "m", targets).key for _ in range(7)]
    assert picks == ["a/up", "b/up", "c/up", "a/up", "b/up", "c/up", "a/up"]
    # Another model has its own position.
    assert balancer.pick("round-robin", "other", targets).key == "a/up"


def test_least_busy_prefers_fewer_in_flight() -> None:
    a, b, c = _targets(("a", 1.0, Price()), ("b", 1.0, Price()), ("c", 1.0, Price()))
    balancer = Balancer(random.Random(0))
    for t in (a, a, b, c, c):
        balancer.started(t)
    assert balancer.pick("least-busy", "m", [a, b, c]) is b
    balancer.finished(a, None)
    balancer.finished(a, None)
    assert balancer.pick("least-busy", "m", [a, b, c]) is a


def test_lowest_cost_picks_the_cheapest_price() -> None:
    targets = _targets(
        ("a", 1.0, Price(input=0.2, output=10.0)),
        ("b", 1.0, Price(input=0.5, output=1.5)),
        ("c", 1.0, Price(input=1.0, output=2.0)),
    )
    balancer = Balancer(random.Random(0))
    assert {balancer.pick("lowest-cost", "m", targets).key for _ in range(50)} == {"b/up"}


def test_least_latency_measures_unmeasured_targets_first() -> None:
    a, b = _targets(("a", 1.0, Price()), ("b", 1.0, Price()))
    balancer = Balancer(random.Random(0))
    balancer.started(a)
    balancer.finished(a, 0.2)
    assert balancer.pick("least-latency", "m", [a, b]) is b
    balancer.started(b)
    balancer.finished(b, 0.5)
    assert balancer.pick("least-latency", "m", [a, b]) is a


def _ticks(step: float) -> Iterator[float]:
    now = 0.0
    while True:
        yield now
        now += step


async def test_router_tracks_in_flight_and_latency_of_successes_only() -> None:
    bad = FakeProvider("bad", [status(503)])
    good = FakeProvider("good")
    r = route("m", target(bad), target(good), routing="round-robin")
    ticks = _ticks(0.25)
    balancer = Balancer(random.Random(0))
    router = Router(sleep=Sleeps(), balancer=balancer, clock=lambda: next(ticks))
    ctx = context(r)
    await router.run(ctx, r, attempt)
    assert ctx.served_by == "good/up"
    assert balancer.in_flight == {"bad/up": 0, "good/up": 0}
    assert balancer.latency == {"good/up": 0.25}


async def test_least_busy_routing_avoids_a_busy_deployment() -> None:
    busy = FakeProvider("busy")
    idle = FakeProvider("idle")
    r = route("m", target(busy), target(idle), routing="least-busy")
    balancer = Balancer(random.Random(0))
    balancer.started(r.targets[0])
    router = Router(sleep=Sleeps(), balancer=balancer)
    for _ in range(5):
        await router.run(context(r), r, attempt)
    assert busy.calls == []
    assert len(idle.calls) == 5
