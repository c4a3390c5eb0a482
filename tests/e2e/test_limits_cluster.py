"""Limits hold exactly across processes that share Redis (and PostgreSQL): N concurrent
requests against a limit of L admit exactly min(N, L) — with ``--workers 2`` and with three
``lockgate serve`` processes. And when Redis goes away, each limit fails the way it says."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from harness import ADMIN_KEY, UPSTREAM_KEY, Proc, admin, free_port, make_key
from tcp_proxy import TcpProxy

LIMIT = 25
REQUESTS = 60


def config(storage: str, state: str, limits: str, extra_plans: str = "") -> str:
    return (
        "version: 1\n"
        'server: {admin_keys: ["${env:LOCKGATE_ADMIN_KEY}"]}\n'
        f"storage: {storage}\n"
        f"state: {state}\n"
        "providers: {demo: {type: mock}}\n"
        "models: {m: {deployments: [{provider: demo, model: demo-chat}]}}\n"
        "plans:\n"
        f"  metered: {{limits: {limits}}}\n"
        f"{extra_plans}"
        "default_plan: metered\n"
    )


def serve(tmp: Path, text: str, *args: str) -> Proc:
    cfg = tmp / f"cluster-{secrets.token_hex(3)}.yaml"
    cfg.write_text(text)
    port = free_port()
    env = {"LOCKGATE_ADMIN_KEY": ADMIN_KEY, "UPSTREAM_KEY": UPSTREAM_KEY}
    p = Proc(
        ["serve", "--config", str(cfg), "--port", str(port), *args],
        port,
        env=env,
        cwd=tmp,
        log=tmp / f"serve-{port}.log",
    )
    p.wait_ready()
    return p


def fire(bases: list[str], key: str, n: int) -> Counter[int]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    def one(i: int) -> int:
        r = httpx.post(
            bases[i % len(bases)] + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        return Counter(pool.map(one, range(n)))


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def test_two_workers_admit_exactly_the_limit(
    tmp_path: Path, redis_url: str, pg_schema_url: str, procs: list[Proc]
) -> None:
    text = config(pg_schema_url, redis_url, f"[{{requests: {LIMIT}, per: hour}}]")
    procs.append(serve(tmp_path, text, "--workers", "2"))
    key = make_key(procs[0].base, "t" + secrets.token_hex(4), "app")
    _wait_key(procs[0].base, key)  # both workers: the other learns of the key from the store
    assert fire([procs[0].base], key, REQUESTS) == {200: LIMIT, 429: REQUESTS - LIMIT}


def test_three_replicas_admit_exactly_the_limit(
    tmp_path: Path, redis_url: str, pg_schema_url: str, procs: list[Proc]
) -> None:
    text = config(
        pg_schema_url, redis_url, f"[{{tokens: 100k, per: day}}, {{requests: {LIMIT}, per: day}}]"
    )
    for _ in range(3):
        procs.append(serve(tmp_path, text))
    key = make_key(procs[0].base, "t" + secrets.token_hex(4), "app")
    for p in procs[1:]:  # the key reaches the other replicas through the shared store
        _wait_key(p.base, key)
    bases = [p.base for p in procs]
    assert fire(bases, key, REQUESTS) == {200: LIMIT, 429: REQUESTS - LIMIT}


def _wait_key(base: str, key: str) -> None:
    """Until the key works on 20 new connections in a row (each may reach any worker)."""
    streak = 0
    for _ in range(400):
        r = httpx.get(base + "/v1/models", headers={"authorization": f"Bearer {key}"})
        streak = streak + 1 if r.status_code == 200 else 0
        if streak == 20:
            return
        if streak == 0:
            time.sleep(0.05)
    raise AssertionError("the key did not reach every process")


def test_redis_outage_fails_open_or_closed_per_limit_and_recovers(
    tmp_path: Path, redis_url: str, procs: list[Proc]
) -> None:
    parts = urlsplit(redis_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    state = f"redis://127.0.0.1:{proxy.port}{parts.path or '/0'}"
    budget = "  budget: {limits: [{requests: 1000, per: minute}, {cost: 100, per: month}]}\n"
    text = config(f"sqlite:///{tmp_path / 'o.db'}", state, "[{requests: 1000, per: day}]", budget)
    try:
        procs.append(serve(tmp_path, text))
        base = procs[0].base
        tenant_open, tenant_closed = "t" + secrets.token_hex(4), "t" + secrets.token_hex(4)
        open_key = make_key(base, tenant_open, "app")
        closed_key = make_key(base, tenant_closed, "app", plan="budget")
        assert fire([base], open_key, 2) == {200: 2}
        assert fire([base], closed_key, 2) == {200: 2}
        proxy.cut()
        assert fire([base], open_key, 3) == {200: 3}  # requests limits fail open
        r = httpx.post(
            base + "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {closed_key}"},
        )
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "fails closed" in r.json()["error"]["message"]
        proxy.restore()
        statuses: Counter[int] = Counter()
        for _ in range(100):  # recovers by itself within about a second
            statuses = fire([base], closed_key, 1)
            if statuses == {200: 1}:
                break
        assert statuses == {200: 1}
        with admin(base) as c:
            rows = c.get("/limits", params={"tenant": tenant_open}).json()["rows"]
        assert rows[0]["used"] == 2  # the calls during the outage were admitted uncounted
    finally:
        proxy.close()
