"""Active health checks: the monitor's bookkeeping, reloads, and the config rules.

The provider's check is scripted; the monitor's sleep never returns, so each task makes its
first check and then waits; further checks are made by calling ``check``.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest
from routing_helpers import Clock

from lockgate.config.loader import ConfigError, load_config_text
from lockgate.config.models import HealthCheck, ProviderConfig
from lockgate.providers.base import HttpProvider
from lockgate.routing.health import HealthMonitor
from lockgate.runtime import Runtime
from lockgate.upstream import UpstreamClient


class Scripted(HttpProvider):
    def __init__(self, name: str, answers: list[str | None]) -> None:
        super().__init__(name, ProviderConfig(type="openai", base_url="http://x"), UpstreamClient())
        self.answers = answers
        self.asked: list[tuple[str, float]] = []

    async def check_health(self, path: str, limit: float) -> str | None:
        self.asked.append((path, limit))
        return self.answers.pop(0) if self.answers else None


async def forever(seconds: float) -> None:
    await asyncio.Event().wait()


def runtime(checks: dict[str, HealthCheck | None], providers: dict[str, Any]) -> Runtime:
    config = SimpleNamespace(
        providers={n: SimpleNamespace(health_check=c) for n, c in checks.items()}
    )
    return cast(Runtime, SimpleNamespace(config=config, providers=providers))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_first_check_at_once_then_down_and_up(caplog: pytest.LogCaptureFixture) -> None:
    monitor = HealthMonitor(sleep=forever, wall=Clock(1_700_000_000.0))
    p = Scripted("p", [None, "HTTP 503 from /v1/models", None])
    check = HealthCheck(path="/v1/models", interval=30, timeout=2)
    monitor.configure(runtime({"p": check, "q": None}, {"p": p, "q": Scripted("q", [])}))
    await settle()
    assert p.asked == [("/v1/models", 2.0)]
    assert monitor.status["p"].healthy and "q" not in monitor.status
    with caplog.at_level(logging.WARNING, logger="lockgate.routing"):
        down = await monitor.check("p", p, check)
        assert not down.healthy and down.reason == "HTTP 503 from /v1/models"
        assert monitor.down == {"p"}
        assert (await monitor.check("p", p, check)).healthy
    assert monitor.down == set()
    assert "provider p failed its health check: HTTP 503" in caplog.text
    assert "provider p is healthy again" in caplog.text
    await monitor.aclose()


async def test_a_check_that_raises_marks_the_provider_down() -> None:
    class Broken(Scripted):
        async def check_health(self, path: str, limit: float) -> str | None:
            raise RuntimeError("boom")

    monitor = HealthMonitor(sleep=forever)
    health = await monitor.check("b", Broken("b", []), HealthCheck(path="/"))
    assert not health.healthy and health.reason == "check failed: RuntimeError"


async def test_reload_keeps_results_of_unchanged_checks_only() -> None:
    monitor = HealthMonitor(sleep=forever)
    same = HealthCheck(path="/a")
    p, q = Scripted("p", ["down"]), Scripted("q", ["down"])
    monitor.configure(runtime({"p": same, "q": same}, {"p": p, "q": q}))
    await settle()
    assert monitor.down == {"p", "q"}
    p2, q2 = Scripted("p", ["still down"]), Scripted("q", [None])
    monitor.configure(runtime({"p": same, "q": HealthCheck(path="/b")}, {"p": p2, "q": q2}))
    # q's check changed: its old result is dropped before the new one arrives.
    assert monitor.down == {"p"}
    await settle()
    assert monitor.down == {"p"} and monitor.status["q"].healthy
    monitor.configure(runtime({}, {}))
    assert monitor.down == set() and monitor.status == {}
    await monitor.aclose()


BASE = """\
version: 1
providers:
  p: {type: openai, base_url: "http://127.0.0.1:1/v1", health_check: HEALTH}
models:
  m: {deployments: [{provider: p, model: x}]}
"""


def test_health_check_config() -> None:
    cfg = load_config_text(BASE.replace("HEALTH", "{path: /v1/models}"), env={})
    check = cfg.providers["p"].health_check
    assert check is not None and (check.interval, check.timeout) == (30.0, 5.0)
    text = BASE.replace("HEALTH", "{path: /v1/models, interval: 10s, timeout: 500ms}")
    check = load_config_text(text, env={}).providers["p"].health_check
    assert check is not None and (check.interval, check.timeout) == (10.0, 0.5)
    for bad in ("{path: v1/models}", "{path: /x, interval: 0s}", "{interval: 5s}"):
        with pytest.raises(ConfigError):
            load_config_text(BASE.replace("HEALTH", bad), env={})
    mock = "version: 1\nproviders:\n  d: {type: mock, health_check: {path: /}}\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(mock, env={})
    assert "no host to health-check" in str(info.value)
