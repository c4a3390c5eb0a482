"""Identity changes reach other gateways through Redis pub/sub, not the store poll: the
gateways here poll once an hour, so only a notification can tell them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.app import Gateway
from lockgate.config.models import Config

ADMIN = "lga-notify-" + "n" * 32
HOUR = 3600.0


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[Gateway, Gateway]]:
    doc: dict[str, Any] = {
        "version": 1,
        "server": {"admin_keys": [ADMIN]},
        "storage": f"sqlite:///{tmp_path / 'shared.db'}",
        "state": redis_url,
        "providers": {"demo": {"type": "mock"}},
        "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
    }
    a = Gateway(Config.model_validate(doc), identity_interval=HOUR)
    b = Gateway(Config.model_validate(doc), identity_interval=HOUR)
    await a.startup()
    await b.startup()
    try:
        for gw in (a, b):
            assert gw.notifier is not None
            await asyncio.wait_for(gw.notifier.subscribed.wait(), 10)
        yield a, b
    finally:
        await a.shutdown()
        await b.shutdown()


async def until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - the index is swapped, not signalled
        await asyncio.sleep(0.01)  # the wait is bounded by the caller


async def test_creation_and_revocation_reach_the_other_gateway(
    pair: tuple[Gateway, Gateway],
) -> None:
    a, b = pair
    transport = httpx.ASGITransport(app=a)
    headers = {"authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://a/admin/v1", headers=headers
    ) as admin:
        await admin.post("/tenants", json={"name": "acme"})
        app = (await admin.post("/tenants/acme/apps", json={"name": "bot"})).json()
        key = (await admin.post(f"/apps/{app['id']}/keys", json={})).json()
        await asyncio.wait_for(until(lambda: b.keys.lookup(key["key"]) is not None), 10)
        assert (await admin.delete(f"/keys/{key['id']}")).status_code == 204
        await asyncio.wait_for(until(lambda: b.keys.lookup(key["key"]) is None), 10)
    assert b.notifier is not None and b.notifier.received >= 2


CYCLES = """
import asyncio, sys, tempfile
from pathlib import Path
import httpx
from lockgate.app import Gateway
from lockgate.config.models import Config

async def once(tmp):
    gw = Gateway(Config.model_validate({
        "version": 1, "storage": f"sqlite:///{tmp / 'c.db'}", "state": sys.argv[1],
        "providers": {"demo": {"type": "mock"}},
        "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
    }))
    await gw.startup()
    try:
        transport = httpx.ASGITransport(app=gw)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            assert (await c.get("/readyz")).status_code == 200
    finally:
        await gw.shutdown()

async def main():
    for n in range(20):
        with tempfile.TemporaryDirectory() as tmp:
            await once(Path(tmp))
    print("stopped 20 times")

asyncio.run(main())
"""


def test_a_gateway_with_notifications_shuts_down_every_time(redis_url: str) -> None:
    """redis-py's pub/sub read sometimes swallows the cancellation that shutdown sends; the
    notifier must stop anyway. Before the fix a gateway on Redis hung at shutdown within its
    first few start/stop cycles under ``asyncio.run`` (pytest's loop does not show it, hence
    a child process)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", CYCLES, redis_url], capture_output=True, text=True, timeout=90
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("a gateway did not finish shutting down") from exc
    assert done.returncode == 0 and "stopped 20 times" in done.stdout, done.stderr
