"""How the gateway mounts the web UI: built on first use, off with ``server.web_ui: false``,
and one sign-in good for every process of the gateway (as with ``--workers 2``)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from lockgate.app import Gateway
from lockgate.config.models import Config

ADMIN = "lga-mount-test-admin-key-0123456789abcdef"


def _config(tmp_path: Path, state: str = "memory", **server: Any) -> Config:
    return Config.model_validate(
        {
            "version": 1,
            "state": state,
            "server": {"admin_keys": [ADMIN], **server},
            "storage": f"sqlite:///{tmp_path / 'ui.db'}",
            "providers": {"demo": {"type": "mock"}},
            "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
        }
    )


@asynccontextmanager
async def _client(gw: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    await gw.startup()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            yield c
    finally:
        await gw.shutdown()


async def test_a_gateway_with_the_ui_off_serves_none_of_it(tmp_path: Path) -> None:
    gw = Gateway(_config(tmp_path, web_ui=False))
    async with _client(gw) as c:
        for path in ("/console", "/console/sign-in", "/portal", "/ui/static/htmx.min.js"):
            r = await c.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_route"
    assert gw._ui is None


SCRIPT = """
import asyncio, sys, httpx
from lockgate.app import Gateway
from lockgate.config.models import Config

async def main():
    gw = Gateway(Config.model_validate({
        "version": 1, "server": {"admin_keys": ["%s"]}, "storage": "sqlite:///%s",
        "providers": {"demo": {"type": "mock"}},
        "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}}}))
    await gw.startup()
    t = httpx.ASGITransport(app=gw)
    async with httpx.AsyncClient(transport=t, base_url="http://gw") as c:
        auth = {"authorization": "Bearer %s"}
        assert (await c.get("/admin/v1/tenants", headers=auth)).status_code == 200
        assert (await c.get("/healthz")).status_code == 200
        print("before", "lockgate.ui" in sys.modules)
        assert (await c.get("/console")).status_code == 303
        print("after", "lockgate.ui" in sys.modules)
    await gw.shutdown()

asyncio.run(main())
"""


def test_the_ui_is_imported_only_when_a_page_is_asked_for(tmp_path: Path) -> None:
    script = SCRIPT % (ADMIN, tmp_path / "lazy.db", ADMIN)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "before False" in out and "after True" in out


async def test_a_session_from_one_process_works_in_another(tmp_path: Path) -> None:
    """Two gateways on one store stand for two workers: the signing key is the store's."""
    async with (
        _client(Gateway(_config(tmp_path))) as one,
        _client(Gateway(_config(tmp_path))) as two,
    ):
        form = (await one.get("/console/sign-in")).text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        r = await one.post("/console/sign-in", data={"csrf": token.group(1), "key": ADMIN})
        assert r.status_code == 303
        two.cookies.set("lockgate_session", one.cookies["lockgate_session"])
        r = await two.get("/console/tenants")
        assert r.status_code == 200 and "<h1>Tenants</h1>" in r.text


async def test_cookies_are_secure_behind_a_trusted_tls_proxy_only(tmp_path: Path) -> None:
    https = {"x-forwarded-proto": "https"}
    async with _client(Gateway(_config(tmp_path, trusted_proxies=["127.0.0.0/8"]))) as c:
        behind_proxy = (await c.get("/console/sign-in", headers=https)).headers["set-cookie"]
        plain = (await c.get("/console/sign-in")).headers["set-cookie"]
    assert behind_proxy.endswith("; Secure") and not plain.endswith("; Secure")
    async with _client(Gateway(_config(tmp_path))) as c:
        spoofed = (await c.get("/console/sign-in", headers=https)).headers["set-cookie"]
    assert not spoofed.endswith("; Secure")  # the header counts from a trusted proxy only


async def test_a_sign_out_reaches_every_process_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        _client(
            Gateway(_config(tmp_path, state=redis_url), key_prefix=f"lgt{id(tmp_path)}:")
        ) as one,
        _client(
            Gateway(_config(tmp_path, state=redis_url), key_prefix=f"lgt{id(tmp_path)}:")
        ) as two,
    ):
        form = (await one.get("/console/sign-in")).text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        await one.post("/console/sign-in", data={"csrf": token.group(1), "key": ADMIN})
        two.cookies.set("lockgate_session", one.cookies["lockgate_session"])
        assert (await two.get("/console/tenants")).status_code == 200
        page = (await one.get("/console")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        assert (
            await one.post("/console/sign-out", data={"csrf": csrf.group(1)})
        ).status_code == 303
        assert (await two.get("/console/tenants")).status_code == 303
