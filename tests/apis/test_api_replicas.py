"""Subscription decisions reach every gateway of a store: over Redis pub/sub when the state
is Redis (these gateways poll the store once an hour, so only a notification can tell them),
and by the store poll otherwise. Only one gateway sends each ``subscription.*`` webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from lockgate.app import Gateway
from lockgate.config.models import Config

ADMIN = "lga-replica-" + "r" * 32
HOUR = 3600.0


def _doc(tmp_path: Path, state: str) -> dict[str, Any]:
    return {
        "version": 1,
        "server": {"admin_keys": [ADMIN]},
        "storage": f"sqlite:///{tmp_path / 'shared.db'}",
        "state": state,
        "providers": {"demo": {"type": "mock"}},
        "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
    }


@asynccontextmanager
async def pair(doc: dict[str, Any], interval: float) -> AsyncIterator[tuple[Gateway, Gateway]]:
    a = Gateway(Config.model_validate(doc), identity_interval=interval)
    b = Gateway(Config.model_validate(doc), identity_interval=interval)
    await a.startup()
    await b.startup()
    try:
        for gw in (a, b):
            if gw.notifier is not None:
                await asyncio.wait_for(gw.notifier.subscribed.wait(), 10)
        yield a, b
    finally:
        await a.shutdown()
        await b.shutdown()


async def until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - the index is swapped, not signalled
        await asyncio.sleep(0.01)  # the wait is bounded by the caller


def status(gw: Gateway, app_id: str) -> str | None:
    state = gw.products.subscription(app_id, "summarize")
    return None if state is None else state.status


async def _decide_through(a: Gateway, b: Gateway) -> None:
    headers = {"authorization": f"Bearer {ADMIN}"}
    transport = httpx.ASGITransport(app=a)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://a/admin/v1", headers=headers
    ) as admin:
        await admin.post("/tenants", json={"name": "acme"})
        app = (await admin.post("/tenants/acme/apps", json={"name": "bot"})).json()["id"]
        await admin.post("/apis", json={"name": "summarize"})
        await admin.post("/apis/summarize/versions", json={"model": "m", "template": "{{ t }}"})
        await admin.post("/apis/summarize/versions/1/publish")
        sub = (await admin.post("/subscriptions", json={"app_id": app, "api": "summarize"})).json()
        await admin.post(f"/subscriptions/{sub['id']}/approve")
        await asyncio.wait_for(until(lambda: status(b, app) == "active"), 10)
        await admin.post(f"/subscriptions/{sub['id']}/revoke")
        await asyncio.wait_for(until(lambda: status(b, app) == "revoked"), 10)


async def test_decisions_reach_the_other_gateway_over_pubsub(
    tmp_path: Path, redis_url: str
) -> None:
    async with pair(_doc(tmp_path, redis_url), HOUR) as (a, b):
        await _decide_through(a, b)
        assert b.notifier is not None and b.notifier.received >= 2
        await a.announcer.idle()
        await b.announcer.idle()
        # three decisions (requested, approved, revoked), each sent by one gateway only
        assert a.announcer.announced + b.announcer.announced == 3


async def test_decisions_reach_the_other_gateway_by_polling(tmp_path: Path) -> None:
    async with pair(_doc(tmp_path, "memory"), 0.05) as (a, b):
        await _decide_through(a, b)
