"""Two ``lockgate serve`` processes sharing Redis see one circuit breaker, announced once.

Each gateway sees only two failures of the dead deployment, under ``min_requests: 4``; the
shared count opens the breaker for both. Waits poll the admin API with a bound, they assert
no durations. ``lockgate deployments`` reads the state from a running gateway.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import ADMIN_KEY, Proc, admin, free_port, make_key, start_gateway, start_mock


def cluster_config(mock: str, db: Path, redis_url: str, model: str) -> str:
    return f"""
version: 1
server: {{admin_keys: ["${{env:LOCKGATE_ADMIN_KEY}}"]}}
storage: sqlite:///{db}
state: {redis_url}
providers:
  dead: {{type: openai, base_url: "http://127.0.0.1:{free_port()}/v1", api_key: x}}
  up:   {{type: openai, base_url: "{mock}/v1", api_key: x}}
models:
  {model}:
    routing: round-robin
    deployments: [{{provider: dead, model: m}}, {{provider: up, model: m}}]
    circuit_breaker: {{window: 60s, min_requests: 4, error_rate: 0.5, open_for: 5m, probes: 1}}
    retry: {{attempts: 1, backoff: 1ms}}
"""


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[tuple[list[Proc], str, str]]:
    model = f"pair-{secrets.token_hex(4)}"  # its own breaker keys in the shared Redis
    mock = start_mock(tmp_path)
    text = cluster_config(mock.base, tmp_path / "shared.db", redis_url, model)
    gateways = [start_gateway(tmp_path, text)[0] for _ in range(2)]
    try:
        yield gateways, model, make_key(gateways[0].base, "acme", "bot")
    finally:
        for g in gateways:
            g.stop()
        mock.stop()
        _forget(redis_url, model)


def _forget(redis_url: str, model: str) -> None:
    from redis import Redis

    client = Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"lockgate:\\{{lockgate-breakers\\}}:{model}|*"):
            client.delete(key)
    finally:
        client.close()


def row(base: str, model: str) -> dict[str, Any]:
    with admin(base) as c:
        rows = c.get("/deployments").json()["data"]
    found: dict[str, Any] = next(r for r in rows if r["model"] == model and r["provider"] == "dead")
    return found


def until(check: Any, what: str, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {limit:g} s")
        time.sleep(0.1)


def test_two_gateways_share_one_breaker(cluster: tuple[list[Proc], str, str]) -> None:
    gateways, model, key = cluster
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {key}"}
    for g in gateways:
        until(
            lambda g=g: (
                httpx.post(
                    g.base + "/v1/chat/completions", json=body, headers=auth, timeout=10
                ).status_code
                != 401
            ),
            "key known",
        )
    for g in gateways:  # two requests each reach the dead deployment (round-robin)
        for _ in range(4):
            r = httpx.post(g.base + "/v1/chat/completions", json=body, headers=auth, timeout=10)
            assert r.status_code == 200, r.text  # retried on the other deployment
    for g in gateways:
        until(lambda g=g: row(g.base, model)["breaker"] == "open", "open on both")
    logs = "".join(g.output() for g in gateways)
    assert logs.count("alert circuit.open") == 1  # announced once for the cluster
    out = subprocess.run(
        [sys.executable, "-m", "lockgate", "deployments", "--url", gateways[1].base],
        env={"LOCKGATE_ADMIN_KEY": ADMIN_KEY, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith(model) and "dead/m" in x)
    assert "open" in line and "*" in line


def test_deployments_cli_needs_an_admin_key(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lockgate", "deployments", "--url", "http://127.0.0.1:9"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode != 0 and "no admin key" in out.stderr
