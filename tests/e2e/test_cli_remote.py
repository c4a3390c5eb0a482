"""``lockgate tenants|apps|keys|admin-keys --url``: the CLI through a running gateway's admin
API, with the admin key's role: a tenant-admin onboarded by the platform admin manages its
tenant and sees nothing of the others."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from click.testing import CliRunner
from harness import ADMIN_KEY, start_gateway

from lockgate.cli import main

CONFIG = """
version: 1
server: {admin_keys: ["${env:LOCKGATE_ADMIN_KEY}"]}
storage: sqlite:///remote.db
providers: {demo: {type: mock}}
models: {m: {deployments: [{provider: demo, model: x}]}}
"""


def test_onboarding_through_the_cli(tmp_path: Path) -> None:
    gw, _ = start_gateway(tmp_path, CONFIG)
    try:

        def lg(admin_key: str, *args: str) -> dict | list:  # type: ignore[type-arg]
            result = CliRunner().invoke(
                main, [*args, "--url", gw.base, "--admin-key", admin_key, "--json"]
            )
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)  # type: ignore[no-any-return]

        lg(ADMIN_KEY, "tenants", "create", "acme")
        lg(ADMIN_KEY, "tenants", "create", "globex")
        boss = lg(ADMIN_KEY, "admin-keys", "create", "tenant-admin", "--tenant", "acme")
        tenant_admin = boss["key"]  # type: ignore[call-overload]
        app = lg(tenant_admin, "apps", "create", "acme", "bot")
        key = lg(tenant_admin, "keys", "create", app["id"])  # type: ignore[call-overload]
        assert [t["name"] for t in lg(tenant_admin, "tenants", "list")] == ["acme"]  # type: ignore[index]
        result = CliRunner().invoke(
            main, ["apps", "list", "globex", "--url", gw.base, "--admin-key", tenant_admin]
        )
        assert result.exit_code == 1 and "not found" in result.output
        r = httpx.get(
            gw.base + "/v1/models",
            headers={"authorization": f"Bearer {key['key']}"},  # type: ignore[call-overload]
        )
        assert r.status_code == 200
    finally:
        gw.stop()
