"""Two gateway processes sharing the real PostgreSQL and Redis, as two replicas would: a key
created or revoked through one is honoured by the other at once (pub/sub), not at its next
poll of the store."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from harness import admin, start_gateway

from lockgate.store import Store


def replica_config(storage: str, redis_url: str) -> str:
    return f"""
version: 1
server: {{admin_keys: ["${{env:LOCKGATE_ADMIN_KEY}}"]}}
storage: "{storage}"
state: {redis_url}
providers: {{demo: {{type: mock}}}}
models: {{m: {{deployments: [{{provider: demo, model: x}}]}}}}
"""


def status(base: str, key: str) -> int:
    headers = {"authorization": f"Bearer {key}"}
    return httpx.get(base + "/v1/models", headers=headers, timeout=5).status_code


def wait_for(base: str, key: str, wanted: int, limit: float = 10.0) -> float:
    """Seconds until ``base`` answers ``wanted`` for ``key`` (fails after ``limit``)."""
    start = time.monotonic()
    while (got := status(base, key)) != wanted:
        assert time.monotonic() - start < limit, f"still {got} after {limit}s"
    return time.monotonic() - start


def test_creation_and_revocation_across_replicas(
    tmp_path: Path, pg_store: Store, pg_schema_url: str, redis_url: str
) -> None:
    text = replica_config(pg_schema_url, redis_url)
    a, _ = start_gateway(tmp_path, text)
    b, _ = start_gateway(tmp_path, text)
    try:
        a.wait_ready("/readyz")
        b.wait_ready("/readyz")
        with admin(a.base) as c:
            assert c.post("/tenants", json={"name": "acme"}).status_code == 201
            app = c.post("/tenants/acme/apps", json={"name": "bot"}).json()
            created = c.post(f"/apps/{app['id']}/keys", json={}).json()
            seen = wait_for(b.base, created["key"], 200)
            assert c.delete(f"/keys/{created['id']}").status_code == 204
            gone = wait_for(b.base, created["key"], 401)
        print(f"replica B: created key usable after {seen:.3f}s, revoked after {gone:.3f}s")
        assert status(a.base, created["key"]) == 401
    finally:
        a.stop()
        b.stop()
