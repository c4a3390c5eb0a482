"""Redis counters on the real server: the same semantics as in memory, shared by processes,
with reservations that expire when their replica dies, and fail-fast outages."""

from __future__ import annotations

import asyncio

import pytest
from counters_cases import COST_DAY, REQUESTS, TOKENS, check
from redis.asyncio import Redis

from lockgate.limits.counters import NEVER, StateUnavailable
from lockgate.limits.redis import RedisCounters

Client = tuple[Redis, str]


async def test_bucket_refill_atomicity_and_never(redis_client: Client) -> None:
    client, p = redis_client
    c = RedisCounters(client)
    req, tok = check(REQUESTS, 1, p), check(TOKENS, 100, p)
    assert (await c.admit([req, tok], 0.0, "r0", 600.0)).admitted
    d = await c.admit([req, tok], 0.0, "r1", 600.0)
    assert not d.admitted and d.outcomes[1].wait == 40.0
    results = [(await c.admit([req], 0.0, f"q{i}", 600.0)).admitted for i in range(10)]
    assert results == [True] * 9 + [False]  # the refused call consumed no request
    assert (await c.admit([check(TOKENS, 500, p)], 0.0, "big", 600.0)).outcomes[0].wait == NEVER
    assert c.calls == 13  # one round trip per admission


async def test_settlement_is_batched_and_exact(redis_client: Client) -> None:
    client, p = redis_client
    c = RedisCounters(client)
    tok = check(TOKENS, 100, p)
    assert (await c.admit([tok], 0.0, "r1", 600.0)).admitted
    c.settle([tok], [30.0], 0.0, "r1")
    await c.flush()
    assert (await c.admit([check(TOKENS, 90, p)], 0.0, "r2", 600.0)).admitted
    assert not (await c.admit([check(TOKENS, 1, p)], 0.0, "r3", 600.0)).admitted


async def test_budget_alerts_fire_once_across_processes(redis_client: Client) -> None:
    client, p = redis_client
    fired: list[tuple[str, float]] = []
    a = RedisCounters(client, on_alert=lambda chk, th, used: fired.append(("a", th)))
    b = RedisCounters(client, on_alert=lambda chk, th, used: fired.append(("b", th)))
    ca, cb = check(COST_DAY, 300, p), check(COST_DAY, 300, p)
    assert (await a.admit([ca], 10.0, "ra", 600.0)).admitted
    assert (await b.admit([cb], 10.0, "rb", 600.0)).admitted
    a.settle([ca], [300.0], 11.0, "ra")
    b.settle([cb], [300.0], 11.0, "rb")
    await a.flush()
    await b.flush()
    assert sorted(th for _, th in fired) == [0.5]  # crossed once, announced once
    d = await a.admit([check(COST_DAY, 500, p)], 12.0, "rc", 600.0)
    assert not d.admitted and d.outcomes[0].wait == 86_400.0 - 12.0


async def test_a_dead_replicas_reservation_expires(redis_client: Client) -> None:
    client, p = redis_client
    c = RedisCounters(client)
    assert (await c.admit([check(COST_DAY, 900, p)], 0.0, "dies", 100.0)).admitted
    # never settled; before its expiry the budget is held...
    assert not (await c.admit([check(COST_DAY, 200, p)], 50.0, "r2", 500.0)).admitted
    # ...after it, the reservation is given back
    assert (await c.admit([check(COST_DAY, 200, p)], 101.0, "r3", 600.0)).admitted


async def test_ip_and_tenant_groups_are_all_or_nothing(redis_client: Client) -> None:
    client, p = redis_client
    c = RedisCounters(client)
    tenant = check(TOKENS, 100, p)
    ip = check(REQUESTS, 1, p, tag="ip:10.0.0.1")
    for i in range(10):
        assert (
            await c.admit([check(REQUESTS, 1, p, tag="ip:10.0.0.1")], 0.0, f"x{i}", 9.0)
        ).admitted
    d = await c.admit([tenant, ip], 0.0, "r", 600.0)  # tenant group admits, ip group refuses
    assert not d.admitted and c.calls == 12
    await c.flush()  # the tenant group's reservation was given back
    assert (await c.admit([check(TOKENS, 120, p)], 0.0, "r2", 600.0)).admitted


async def test_unreachable_state_fails_fast_then_recovers(redis_client: Client) -> None:
    _, p = redis_client
    now = [0.0]
    dead = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    c = RedisCounters(dead, monotonic=lambda: now[0], retry_after=1.0)
    with pytest.raises(StateUnavailable):
        await c.admit([check(REQUESTS, 1, p)], 0.0, "r", 9.0)
    assert c.outages == 1 and not c.available
    calls = c.calls
    with pytest.raises(StateUnavailable):  # fails fast: no second connection attempt
        await c.admit([check(REQUESTS, 1, p)], 0.0, "r", 9.0)
    assert c.calls == calls
    now[0] = 1.5
    assert c.available
    await dead.aclose()


async def test_settlements_survive_an_outage(redis_client: Client) -> None:
    client, p = redis_client
    now = [0.0]
    c = RedisCounters(client, monotonic=lambda: now[0])
    tok = check(TOKENS, 100, p)
    assert (await c.admit([tok], 0.0, "r1", 600.0)).admitted
    real_send = c._send
    failures = [1]

    async def flaky(batch: list) -> None:  # type: ignore[type-arg]
        if failures:
            failures.pop()
            raise ConnectionError("redis went away")
        await real_send(batch)

    c._send = flaky  # type: ignore[method-assign]
    c.settle([tok], [20.0], 0.0, "r1")
    await asyncio.sleep(0.01)
    assert not c.available and len(c._pending) == 1  # kept, not lost
    now[0] = 2.0
    await c.flush()
    assert (await c.admit([check(TOKENS, 100, p)], 0.0, "r2", 600.0)).admitted


async def test_admissions_of_one_loop_turn_share_a_pipeline_in_arrival_order(
    redis_client: Client,
) -> None:
    client, p = redis_client
    c = RedisCounters(client)
    pipelines = 0
    make = client.pipeline

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal pipelines
        pipelines += 1
        return make(*args, **kwargs)  # type: ignore[arg-type]

    client.pipeline = counting  # type: ignore[method-assign]
    try:
        req = check(REQUESTS, 1, p)  # 10 requests
        decisions = await asyncio.gather(*(c.admit([req], 0.0, f"r{i}", 600.0) for i in range(25)))
    finally:
        del client.pipeline
    assert [d.admitted for d in decisions] == [True] * 10 + [False] * 15
    assert [d.outcomes[0].remaining for d in decisions[:10]] == [9.0 - i for i in range(10)]
    assert pipelines == 1 and c.calls == 25


async def test_a_failed_batch_fails_every_admission_in_it(redis_client: Client) -> None:
    _, p = redis_client
    dead = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    c = RedisCounters(dead)
    try:
        results = await asyncio.gather(
            *(c.admit([check(REQUESTS, 1, p)], 0.0, f"r{i}", 9.0) for i in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, StateUnavailable) for r in results)
        assert c.outages == 1
    finally:
        await dead.aclose()
