"""``LOCKGATE_ADMIN_KEY`` is a platform-admin key with any config (SPEC section 3), not only
with the embedded default."""

from __future__ import annotations

from pathlib import Path

import httpx

from lockgate.app import Gateway
from lockgate.server import prepare


async def test_env_admin_key_works_with_a_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text(
        "version: 1\n"
        f"storage: sqlite:///{tmp_path / 'a.db'}\n"
        "providers: {demo: {type: mock}}\n"  # no server.admin_keys at all
    )
    p = prepare(str(cfg), {"LOCKGATE_ADMIN_KEY": "lga-from-the-environment-0123456789"})
    gw = Gateway(p.config, extra_admin_keys=p.extra_admin_keys)
    await gw.startup()
    try:
        transport = httpx.ASGITransport(app=gw)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            ok = {"authorization": "Bearer lga-from-the-environment-0123456789"}
            r = await c.post("/admin/v1/tenants", json={"name": "acme"}, headers=ok)
            assert r.status_code == 201, r.text
            bad = {"authorization": "Bearer lga-something-else"}
            assert (await c.get("/admin/v1/tenants", headers=bad)).status_code == 401
    finally:
        await gw.shutdown()
    assert prepare(str(cfg), {}).extra_admin_keys == ()
