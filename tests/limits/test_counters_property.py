"""Property: both counter backends agree with the plain reference model on every decision,
for any sequence of admissions and settlements over requests, token and cost limits."""

from __future__ import annotations

import asyncio
import secrets

from counters_cases import COST_DAY, REQUESTS, TOKENS, Reference, check
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from lockgate.limits.counters import Check, Counters
from lockgate.limits.memory import MemoryCounters
from lockgate.limits.redis import RedisCounters

SPECS = (REQUESTS, TOKENS, COST_DAY)

# An operation: time step (quarter seconds, so every number stays exact in binary), which
# limits apply, the reservation, and what the call really used (settled right away or later).
op = st.tuples(
    st.integers(0, 12).map(lambda q: q / 4),
    st.lists(st.sampled_from(range(3)), min_size=1, max_size=3, unique=True),
    st.integers(0, 160),
    st.integers(0, 200),
    st.booleans(),
)


async def run(
    counters: Counters, ops: list[tuple[float, list[int], int, int, bool]], p: str
) -> None:
    ref = Reference()
    now = 0.0
    open_: list[tuple[list[Check], float, str]] = []
    for i, (dt, which, amount, actual, settle_now) in enumerate(ops):
        now += dt
        checks = [check(SPECS[j], 1.0 if j == 0 else float(amount), p) for j in which]
        expected = ref.admit(checks, now)
        decision = await counters.admit(checks, now, f"r{i}", now + 3600)
        assert decision.admitted == expected, (i, now)
        if expected:
            open_.append((checks, float(actual), f"r{i}"))
        if open_ and (settle_now or len(open_) > 3):
            done, used, rid = open_.pop(0)
            ref.settle(done, [used] * len(done), now)
            counters.settle(done, [used] * len(done), now, rid)
            if isinstance(counters, RedisCounters):
                await counters.flush()


@settings(max_examples=60, deadline=None)
@given(st.lists(op, max_size=40))
def test_memory_counters_match_the_reference(
    ops: list[tuple[float, list[int], int, int, bool]],
) -> None:
    asyncio.run(run(MemoryCounters(), ops, "lg:"))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(op, max_size=25))
def test_redis_counters_match_the_reference(
    redis_url: str, ops: list[tuple[float, list[int], int, int, bool]]
) -> None:
    async def go() -> None:
        client = Redis.from_url(redis_url)
        prefix = f"lgprop:{secrets.token_hex(4)}:"
        try:
            await run(RedisCounters(client), ops, prefix)
        finally:
            keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
            if keys:
                await client.delete(*keys)
            await client.aclose()

    asyncio.run(go())
