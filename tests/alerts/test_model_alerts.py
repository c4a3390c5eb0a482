"""alerts.rules: per-model error-rate and latency alerts, fired once per crossing, resolved
once, de-duplicated across replicas, and refused at load when they name unknown models."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.alerts.events import EVENTS
from lockgate.alerts.rules import ModelAlerts, percentile, redis_claim
from lockgate.config.loader import ConfigError, load_config_text
from lockgate.config.models import ErrorRateAlert, LatencyAlert
from lockgate.errors import UpstreamTimeout
from lockgate.pipeline.context import RequestContext
from lockgate.usage.record import Expanded, capture, expand

BASE = (
    "version: 1\nproviders: {demo: {type: mock}}\n"
    "models: {m: {deployments: [{provider: demo, model: x}]}}\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def record(clock: Clock, model: str = "m", *, latency: float = 0.1, status: int = 200,
           upstream_error: bool = False) -> Expanded:  # fmt: skip
    ctx = RequestContext(
        request_id="r",
        route="chat",
        ingress="openai",
        headers=[],
        client_ip="",
        runtime=None,  # type: ignore[arg-type]
        started=10.0,
        received_at=clock.now,
    )
    ctx.served_model = model
    ctx.finished_at = 10.0 + latency
    ctx.status = status
    if upstream_error:
        ctx.failed(UpstreamTimeout("provider timed out"))
    return expand(capture(ctx))


def alerts(*rules: Any) -> tuple[ModelAlerts, list[tuple[str, dict[str, Any]]], Clock]:
    events: list[tuple[str, dict[str, Any]]] = []
    clock = Clock()
    return (
        ModelAlerts(rules, ["m", "n"], lambda e, d: events.append((e, d)), clock=clock),
        events,
        clock,
    )


ERRORS = ErrorRateAlert(type="error_rate", above=0.2, window=60, min_requests=10)
SLOW = LatencyAlert(type="latency", above=1.0, percentile=90, window=60, min_requests=5)


async def test_error_rate_fires_once_then_resolves() -> None:
    a, events, clock = alerts(ERRORS)
    a.consume([record(clock) for _ in range(9)] + [record(clock, status=502)])
    clock.now += 1
    a.consume([record(clock, status=503), record(clock, upstream_error=True)])
    await a.drain()
    assert [e for e, _ in events] == ["model.error_rate"]
    assert events[0][1]["model"] == "m" and events[0][1]["error_rate"] == 0.25
    clock.now += 1
    a.consume([record(clock, status=500)])  # still above: no second event
    await a.drain()
    assert len(events) == 1
    clock.now += 61  # the failures leave the window
    a.consume([record(clock) for _ in range(12)])
    await a.drain()
    assert [e for e, _ in events] == ["model.error_rate", "model.error_rate.resolved"]


async def test_latency_percentile_and_min_requests() -> None:
    a, events, clock = alerts(SLOW)
    a.consume([record(clock, latency=3.0) for _ in range(4)])  # under min_requests
    await a.drain()
    assert events == []
    clock.now += 1
    a.consume([record(clock, latency=0.1) for _ in range(60)] + [record(clock, latency=3.0)])
    await a.drain()
    assert events == []  # 5 slow calls of 65: the 90th percentile is 0.1 s
    clock.now += 1
    a.consume([record(clock, latency=2.0) for _ in range(10)])
    await a.drain()
    assert [e for e, _ in events] == ["model.latency"]
    assert events[0][1]["seconds"] == 2.0 and events[0][1]["percentile"] == 90


async def test_rules_watch_only_their_models() -> None:
    rule = ErrorRateAlert(type="error_rate", models=["n"], above=0.1, min_requests=1)
    a, events, clock = alerts(rule)
    a.consume([record(clock, "m", status=500)])
    await a.drain()
    assert events == []
    a.consume([record(clock, "n", status=500)])
    await a.drain()
    assert events[0][1]["model"] == "n"


async def test_a_crossing_is_announced_by_one_replica_only(redis_url: str) -> None:
    import secrets

    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        claim = redis_claim(client)
        key = f"test-{secrets.token_hex(4)}:m"
        assert await claim(key, 5.0) is True
        assert await claim(key, 5.0) is False  # another replica, same crossing
        await client.delete(f"lockgate:alert:{{{key}}}")
    finally:
        await client.aclose()


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([5.0], 99) == 5.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


def test_rules_load_and_events_are_known() -> None:
    cfg = load_config_text(
        BASE + "alerts:\n  webhooks: [{url: 'https://h/x', events: ['model.*']}]\n  rules:\n"
        "    - {type: error_rate, models: [m], above: 0.05, window: 5m}\n"
        "    - {type: latency, above: 2s, percentile: 99, measure: ttft}\n",
        env={},
    )
    first, second = cfg.alerts.rules
    assert isinstance(first, ErrorRateAlert) and first.window == 300.0
    assert isinstance(second, LatencyAlert) and second.above == 2.0 and second.models == ["*"]
    assert {"model.error_rate", "model.latency", "model.latency.resolved"} <= EVENTS


@pytest.mark.parametrize(
    ("rule", "path", "words"),
    [
        (
            "{type: error_rate, models: [nope], above: 0.1}",
            "alerts.rules[0].models[0]",
            "unknown model",
        ),
        ("{type: error_rate, above: 2}", "alerts.rules[0].above", "at most 1"),
        ("{type: latency}", "alerts.rules[0].above", "missing required key"),
        ("{type: queue, above: 1}", "alerts.rules[0]", "type"),
    ],
)
def test_bad_rules_are_refused(rule: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + f"alerts:\n  rules:\n    - {rule}\n", env={})
    problem = info.value.problems[0]
    assert problem.path.startswith(path) and words in problem.message, problem
