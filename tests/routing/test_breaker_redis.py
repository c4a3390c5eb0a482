"""Breakers shared through the real Redis: two routers stand for two replicas.

Each test uses its own key prefix and deletes its keys; clocks are virtual and the reports to
Redis are made by calling ``sync_now`` (the background loop is the same call on a timer).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from routing_helpers import Clock, FakeProvider, Sleeps, attempt, context, make_router, route
from routing_helpers import target as make_target

from lockgate.config.models import CircuitBreakerConfig, RetryConfig
from lockgate.errors import UpstreamConnectError
from lockgate.routing.breaker import CLOSED, HALF_OPEN, OPEN
from lockgate.routing.breaker_sync import BreakerSync
from lockgate.routing.router import Router

CFG = CircuitBreakerConfig(window=10, min_requests=4, error_rate=0.5, open_for=30, probes=2)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


class Replica:
    def __init__(self, client: Redis, prefix: str, clock: Clock) -> None:
        self.router: Router = make_router(Sleeps(clock), clock=clock)
        self.events: list[str] = []
        book = self.router.breakers
        book.shared = True
        book.emit = lambda event, data: self.events.append(event)
        self.sync = BreakerSync(client, book, clock=clock, wall=clock, prefix=prefix)

    def state(self, model: str = "m", deployment: str = "dead/up") -> Any:
        b = self.router.breakers.find(model, deployment)
        return b.state if b is not None else None


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    p = f"lockgate-test:{{lockgate-breakers}}:{secrets.token_hex(6)}:"
    try:
        yield p
    finally:
        keys = [k async for k in redis.scan_iter(match=p.replace("{", "\\{") + "*")]
        if keys:
            await redis.delete(*keys)


def pair_route(dead: FakeProvider, alive: FakeProvider) -> Any:
    return route(
        "m",
        make_target(dead),
        make_target(alive),
        routing="round-robin",
        breaker=CFG,
        retry=RetryConfig(attempts=1, backoff=0.01),
    )


async def test_two_replicas_share_one_breaker_and_announce_once(redis: Redis, prefix: str) -> None:
    clock = Clock(1_700_000_000.0)
    a, b = Replica(redis, prefix, clock), Replica(redis, prefix, clock)
    dead = FakeProvider("dead", [UpstreamConnectError("refused")] * 100)
    alive = FakeProvider("alive")
    r = pair_route(dead, alive)
    for replica in (a, b):
        replica.router.breakers.prepare([r])
    for replica in (a, b):  # each sees 2 failures (and 2 successes): neither alone may open
        for _ in range(4):
            await replica.router.run(context(r), r, attempt)
    assert len(dead.calls) == 4
    assert await a.sync.sync_now() == []  # shared: 2 of 4
    assert a.state() is CLOSED
    [opened] = await b.sync.sync_now()  # shared: 4 of 8 failed, error_rate 0.5
    assert opened.state is OPEN and (opened.requests, opened.failures) == (4, 4)
    assert "across replicas" in opened.reason
    await a.sync.sync_now()
    assert a.state() is OPEN and b.state() is OPEN
    assert (a.events, b.events) == ([], ["circuit.open"])  # one event for the cluster
    calls = len(dead.calls)
    for replica in (a, b):
        for _ in range(6):
            await replica.router.run(context(r), r, attempt)
    assert len(dead.calls) == calls  # no replica sends it traffic


async def test_probes_from_both_replicas_close_the_shared_breaker(
    redis: Redis, prefix: str
) -> None:
    clock = Clock(1_700_000_000.0)
    a, b = Replica(redis, prefix, clock), Replica(redis, prefix, clock)
    dead = FakeProvider("dead", [UpstreamConnectError("refused")] * 4)
    r = pair_route(dead, FakeProvider("alive"))
    for replica in (a, b):
        replica.router.breakers.prepare([r])
    for _ in range(8):
        await a.router.run(context(r), r, attempt)
    await a.sync.sync_now()
    await b.sync.sync_now()
    assert a.state() is OPEN and b.state() is OPEN and a.events == ["circuit.open"]
    clock.advance(CFG.open_for + 1)
    # The deployment is back. Each replica sends one probe, and it succeeds: two probes in
    # all (``probes: 2``) close the shared breaker, whichever replica sent them.
    solo = route("m", make_target(dead), breaker=CFG)
    await a.router.run(context(solo), solo, attempt)
    assert await a.sync.sync_now() == []
    assert a.state() is HALF_OPEN
    await b.router.run(context(solo), solo, attempt)
    [moved] = await b.sync.sync_now()
    assert moved.state is CLOSED
    await a.sync.sync_now()
    assert a.state() is CLOSED and b.state() is CLOSED
    assert sorted(a.events + b.events) == ["circuit.close", "circuit.open"]


async def test_a_failed_probe_reopens_for_everyone(redis: Redis, prefix: str) -> None:
    clock = Clock(1_700_000_000.0)
    a, b = Replica(redis, prefix, clock), Replica(redis, prefix, clock)
    dead = FakeProvider("dead", [UpstreamConnectError("refused")] * 100)
    r = pair_route(dead, FakeProvider("alive"))
    for replica in (a, b):
        replica.router.breakers.prepare([r])
    for _ in range(8):
        await a.router.run(context(r), r, attempt)
    await a.sync.sync_now()
    clock.advance(CFG.open_for + 1)
    await a.router.run(context(r), r, attempt)  # round-robin: a probe, which fails
    await a.router.run(context(r), r, attempt)
    assert a.state() is OPEN  # locally at once
    [reopened] = await a.sync.sync_now()
    assert reopened.state is OPEN and reopened.reason == "a half-open probe failed"
    await b.sync.sync_now()
    assert b.state() is OPEN


async def test_redis_unreachable_keeps_local_outcomes_for_later() -> None:
    clock = Clock()
    client = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    try:
        replica = Replica(client, "x:{lockgate-breakers}:", clock)
        dead = FakeProvider("dead", [UpstreamConnectError("refused")] * 2)
        r = pair_route(dead, FakeProvider("alive"))
        for _ in range(4):
            await replica.router.run(context(r), r, attempt)
        with pytest.raises(Exception):  # noqa: B017 - a connection error
            await replica.sync.sync_now()
        breaker = replica.router.breakers.find("m", "dead/up")
        assert breaker is not None and (breaker.pending_ok, breaker.pending_fail) == (0, 2)
    finally:
        await client.aclose()


async def test_old_buckets_are_pruned_from_the_shared_hash(redis: Redis, prefix: str) -> None:
    clock = Clock(1_700_000_000.0)
    replica = Replica(redis, prefix, clock)
    wide = CircuitBreakerConfig(window=10, min_requests=1000, error_rate=0.9, open_for=30)
    r = route("m", make_target(FakeProvider("p")), breaker=wide)
    replica.router.breakers.prepare([r])
    for _ in range(60):  # a minute of traffic, one report a second
        await replica.router.run(context(r), r, attempt)
        await replica.sync.sync_now()
        clock.advance(1.0)
    fields = await redis.hkeys(f"{prefix}m|p/up")
    assert len(fields) <= 2 * 10 + 1  # the window's buckets (ok and fail) and 'lo'
