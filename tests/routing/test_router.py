"""Router: retries, backoff, fallbacks and residency, without a network.

Targets carry fake providers that record their calls and raise scripted errors; the router's
sleep is a recorder on a virtual clock, so backoff delays are asserted as values, never waited
for.
"""

from __future__ import annotations

import pytest
from routing_helpers import (
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
from lockgate.errors import (
    GatewayError,
    InvalidRequest,
    PermissionDenied,
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)

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
    for _ in range(4):
        await router.run(context(r), r, attempt)
    assert len(us.calls) == 2
    assert len(eu.calls) == 2
